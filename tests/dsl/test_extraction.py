"""Extraction primitives: halves, compression, fitted crops by colour and by object criterion, colour order."""
from dsl_helpers import run_fit
from dsl_helpers import run_plain as run
from test_cropping import GRID


def test_halves_drop_an_odd_middle_line():
    g = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert run("half_left", [g])[0] == [[[1], [4], [7]]]
    assert run("half_right", [g])[0] == [[[3], [6], [9]]]
    assert run("half_top", [g])[0] == [[[1, 2, 3]]]
    assert run("half_bottom", [[[1, 2], [3, 4]], [[5]]]) == ([[[3, 4]], [[5]]], [True, False])


def test_compress_and_dedupe_lines():
    out, ok = run("compress_bg_lines", [GRID, [[1, 2], [3, 4]]])
    assert out[0] == [[2, 2, 0, 3], [2, 1, 0, 0], [0, 0, 4, 4]] and ok == [True, False]
    g = [[1, 1, 2], [1, 1, 2], [3, 3, 4], [1, 1, 2]]
    out, ok = run("dedupe_lines", [g, [[1, 2], [3, 4]]])
    assert out[0] == [[1, 2], [3, 4], [1, 2]] and ok == [True, False]


def test_crop_colour_fit_chooses_the_colour_from_the_demos():
    a = [[0, 5, 0, 0], [0, 5, 5, 3], [0, 0, 0, 3]]
    b = [[3, 0, 0], [0, 0, 5], [0, 5, 0]]
    out, ok = run_fit("crop_colour_fit", [[(a, [[5, 0], [5, 5]]), (b, [[0, 5], [5, 0]]), (GRID, None)]])
    assert ok == [True, True, False]                     # GRID has no 5: its slot cannot be cropped
    out, ok = run_fit("crop_colour_fit", [[(a, [[5, 0], [5, 5]]), (b, [[0, 5], [5, 0]]), (b, None)]])
    assert ok == [True, True, True] and out[2] == [[0, 5], [5, 0]]


def test_crop_obj_fit_picks_by_a_fitted_criterion():
    top = [[7, 7, 7], [0, 0, 0], [0, 6, 0]]             # the top-most object: the largest here ...
    top2 = [[0, 0, 0, 4], [8, 8, 0, 0], [8, 8, 0, 0]]   # ... and the smallest here
    test = [[3, 0, 0], [0, 0, 0], [0, 0, 9]]
    out, ok = run_fit("crop_obj_fit", [[(top, [[7, 7, 7]]), (top2, [[4]]), (test, None)]])
    assert all(ok) and out[2] == [[3]]
    out, ok = run_fit("crop_obj_fit", [[(top, [[6]]), (top2, [[4]]), (GRID, None)]])   # fewest cells
    assert ok == [True, True, False]                    # GRID: the 3 and the 1 tie


def test_colour_sequence():
    bands = [[2, 2, 3, 3, 1], [2, 2, 3, 3, 1]]
    assert run("colour_sequence_row", [bands])[0] == [[[2, 3, 1]]]
    assert run("colour_sequence_col", [[r[::-1] for r in bands]])[0] == [[[1], [3], [2]]]
    assert run("colour_sequence_row", [[[0, 4, 4]]])[1] == [False]        # one colour: not a sequence
