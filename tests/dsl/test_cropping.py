
from topas_lit.callbacks.sync_guard import HostReadGuard
from topas_lit.modules.dsl.registry import GridBatch, apply_primitive

from dsl_helpers import candidates, family, run_fit
from dsl_helpers import run_plain as run

PRIMS = family("cropping")


GRID = [[0, 0, 0, 0, 0, 0],
        [0, 2, 2, 0, 0, 3],
        [0, 2, 1, 0, 0, 0],
        [0, 0, 0, 0, 4, 4],
        [0, 0, 0, 0, 0, 0]]


def test_crop_nonbg_and_colours():
    out, ok = run("crop_nonbg", [GRID, [[0, 0], [0, 0]], [[1, 2], [3, 4]]])
    assert out[0] == [row[1:] for row in GRID[1:4]] and ok == [True, False, False]  # empty / whole grid
    out, ok = run("crop_most_common_colour", [GRID, [[1, 0, 2]]])
    assert out[0] == [[2, 2], [2, 1]] and ok == [True, False]  # 1 vs 2 tie
    out, ok = run("crop_least_common_colour", [GRID])
    assert ok == [False]  # 1 and 3 both once
    out, ok = run("crop_least_common_colour", [[[5, 0, 0], [0, 5, 6], [6, 6, 0]]])
    assert out[0] == [[5, 0], [0, 5]] and ok == [True]


def test_crop_objects_by_size_and_colour():
    out, ok = run("crop_largest_obj", [GRID])
    assert out[0] == [[2, 2], [2, 1]] and ok == [True]  # the 2s: 3 cells
    out, ok = run("crop_smallest_obj", [[[1, 1, 0, 3], [0, 0, 0, 0], [2, 2, 2, 0]]])
    assert out[0] == [[3]] and ok == [True]
    out, ok = run("crop_obj_most_colours", [GRID])
    assert out[0] == [[2, 2], [2, 1]] and ok == [True]
    out, ok = run("crop_unique_colour_obj", [[[1, 0, 1, 0, 0], [0, 0, 0, 0, 7], [1, 0, 0, 0, 7]]])
    assert out[0] == [[7], [7]] and ok == [True]


def test_crop_shapes():
    grid = [[1, 1, 0, 2, 2, 0, 3],
            [0, 0, 0, 0, 0, 0, 3],
            [4, 0, 5, 5, 0, 0, 0]]
    out, ok = run("crop_common_shape_obj", [grid])
    assert out[0] == [[1, 1]] and ok == [True]  # three horizontal dominoes
    out, ok = run("crop_odd_shape_obj", [[[1, 1, 0, 2, 2, 0, 3], [0, 0, 0, 0, 0, 0, 3]]])
    assert out[0] == [[3], [3]] and ok == [True]
    out, ok = run("crop_odd_shape_obj", [grid])
    assert ok == [False]  # the vertical domino and the single cell are both unique
    sym = [[1, 2, 1, 0, 0],
           [0, 2, 0, 0, 3],
           [0, 0, 0, 3, 3]]
    out, ok = run("crop_symmetric_obj", [sym])
    assert out[0] == [[1, 2, 1], [0, 2, 0]] and ok == [True]


def test_crop_marked_obj():
    grid = [[0, 5, 0, 0, 0],
            [1, 1, 0, 0, 2],
            [0, 1, 0, 2, 2],
            [0, 0, 0, 0, 0]]
    out, ok = run("crop_marked_obj", [grid])
    assert out[0] == [[1, 1], [0, 1]] and ok == [True]


def test_crop_inside_frame():
    grid = [[0, 0, 0, 0, 0, 0],
            [0, 3, 3, 3, 3, 0],
            [0, 3, 1, 0, 3, 7],
            [0, 3, 0, 2, 3, 0],
            [0, 3, 3, 3, 3, 0]]
    out, ok = run("crop_inside_frame", [grid, [[3, 3], [3, 3]]])
    assert out[0] == [[1, 0], [0, 2]] and ok == [True, False]


def test_crop_obj_most_colour_fit():
    a_in = [[1, 1, 0, 1, 2],
            [1, 2, 0, 2, 2],
            [0, 0, 0, 0, 0],
            [3, 3, 3, 0, 0]]
    test = [[2, 2, 0, 1, 1],
            [2, 1, 0, 1, 1]]
    out, ok = run_fit("crop_obj_most_colour_fit", [[(a_in, [[1, 2], [2, 2]]), (test, None)],
                                                   [(a_in, [[1, 2], [2, 2]]), (a_in, [[1, 1], [1, 2]])],
                                                   [(a_in, [[1, 2], [2, 2]]), (a_in, [[3, 3, 3]])]])
    assert out[1] == [[2, 2], [2, 1]] and ok[:2] == [True, True]  # fitted colour 2
    assert out[3] == [[1, 1], [1, 2]] and ok[2:4] == [True, True]  # no exact fit: colour 1 gets the sizes right
    assert ok[4:] == [False, False]  # no colour gets even the sizes right


def test_crop_corner_fit():
    a_in = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    b_in = [[1, 1, 2, 2], [3, 3, 4, 4]]
    test = [[5, 6, 7], [8, 9, 1]]
    out, ok = run_fit("crop_corner_fit", [[(a_in, [[2, 3]]), (b_in, [[2, 2]]), (test, None)],
                                          [(a_in, [[2, 3]]), (b_in, [[3, 3]]), (test, None)],
                                          [(a_in, [[2, 3]]), (b_in, [[2]]), (test, None)]])
    assert out[2] == [[6, 7]] and ok[:3] == [True] * 3  # top-right 1x2
    assert out[5] == [[5, 6]] and ok[3:6] == [True] * 3  # corners disagree: the first corner has the right size
    assert ok[6:] == [False] * 3  # output sizes differ


def test_no_host_reads():
    tasks = [[(GRID, [[2, 2], [2, 1]]), ([[0, 5], [5, 5]], None)], [([[0]], [[0]]), ([[0]], None)]]
    ci, si, demos = candidates(tasks)
    with HostReadGuard("error"):
        g = GridBatch(ci, si)
        for prim in PRIMS.values():
            apply_primitive(prim, g, demos)
