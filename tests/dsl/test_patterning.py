"""Patterning primitives: noise removal by 2 x 2 squares, rotation completion of the content, band tiling, reversed
rings, mask recolouring by line markers / a template, symmetry completion with line fill."""
from dsl_helpers import run_fit, run_plain


def test_keep_square_covered_removes_noise_next_to_blocks():
    a = [[0, 3, 0, 0, 0],
         [0, 0, 3, 3, 0],
         [0, 0, 3, 3, 3],
         [3, 0, 0, 0, 0]]
    out, ok = run_plain("keep_square_covered", [a, [[0, 3], [3, 0]]])
    assert ok == [True, False]                       # no 2 x 2 square at all: not ok
    assert out[0] == [[0, 0, 0, 0, 0],
                      [0, 0, 3, 3, 0],
                      [0, 0, 3, 3, 0],
                      [0, 0, 0, 0, 0]]


def test_complete_rotation_finds_an_off_centre_axis():
    a = [[0, 0, 0, 0, 0, 0],
         [0, 3, 0, 0, 0, 0],
         [0, 0, 6, 6, 0, 0],
         [0, 0, 6, 6, 0, 0],
         [0, 0, 0, 6, 0, 0],
         [0, 0, 0, 0, 0, 0]]
    out, ok = run_plain("complete_rotation", [a])
    assert ok == [True]
    assert out[0] == [[0, 0, 0, 0, 0, 0],
                      [0, 3, 6, 0, 3, 0],
                      [0, 0, 6, 6, 6, 0],
                      [0, 6, 6, 6, 0, 0],
                      [0, 3, 0, 6, 3, 0],
                      [0, 0, 0, 0, 0, 0]]
    _, ok = run_plain("complete_rotation", [[[1, 2], [0, 0]]])  # no centre without a clash or a cell off the grid
    assert ok == [False]


def test_tile_band_fit_picks_lattice_or_whole_band():
    a = [[0, 0, 0, 0, 0, 0, 0],
         [1, 2, 2, 1, 2, 0, 0]]
    a_out = [[0, 0, 0, 0, 0, 0, 0],
             [1, 2, 2, 1, 2, 2, 1]]
    test = [[0, 0, 0, 0, 0, 0], [3, 4, 3, 4, 0, 0]]
    out, ok = run_fit("tile_col_band_fit", [[(a, a_out), (test, None)]])
    assert ok == [True, True]
    assert out[1] == [[0, 0, 0, 0, 0, 0], [3, 4, 3, 4, 3, 4]]
    b = [[0, 0, 0], [5, 0, 5], [5, 5, 5], [5, 0, 5], [0, 0, 0], [0, 0, 0], [0, 0, 0]]
    b_out = [[5, 0, 5], [5, 0, 5], [5, 5, 5], [5, 0, 5], [5, 0, 5], [5, 5, 5], [5, 0, 5]]  # the band, not period 2
    out, ok = run_fit("tile_row_band_fit", [[(b, b_out)]])
    assert ok == [True] and out[0] == b_out


def test_reverse_rings():
    a = [[2, 2, 2, 2], [2, 1, 1, 2], [2, 1, 1, 2], [2, 2, 2, 2]]
    out, ok = run_plain("reverse_rings", [a, [[2, 2, 2], [2, 1, 2], [2, 3, 2]]])
    assert ok == [True, False]                       # the second grid's inner ring is not one colour
    assert out[0] == [[1, 1, 1, 1], [1, 2, 2, 1], [1, 2, 2, 1], [1, 1, 1, 1]]


def test_recolour_mask_by_line_fit_uses_rows_or_columns():
    a = [[1, 0, 5, 5], [2, 0, 5, 0], [1, 0, 0, 5]]
    a_out = [[1, 0, 1, 1], [2, 0, 2, 0], [1, 0, 0, 1]]
    test = [[3, 5, 0], [4, 0, 5]]
    out, ok = run_fit("recolour_mask_by_line_fit", [[(a, a_out), (test, None)]])
    assert ok == [True, True]
    assert out[1] == [[3, 3, 0], [4, 0, 4]]
    c, c_out = [[1, 2], [5, 0], [0, 5]], [[1, 2], [1, 0], [0, 2]]      # columns
    out, ok = run_fit("recolour_mask_by_line_fit", [[(c, c_out)]])
    assert ok == [True] and out[0] == c_out


def test_mask_objs_take_template():
    a = [[2, 4, 0, 0, 0],
         [4, 4, 0, 5, 5],
         [0, 0, 0, 5, 5],
         [5, 5, 0, 0, 0],
         [5, 5, 0, 0, 0]]
    a_out = [[2, 4, 0, 0, 0],
             [4, 4, 0, 2, 4],
             [0, 0, 0, 4, 4],
             [2, 4, 0, 0, 0],
             [4, 4, 0, 0, 0]]
    test = [[0, 0, 0, 0], [0, 5, 5, 0], [0, 5, 5, 0], [3, 3, 0, 0], [1, 3, 0, 0]]
    bad = [[3, 1, 0, 0], [0, 0, 0, 0], [5, 5, 5, 0], [0, 0, 0, 0]]     # a mask object of another size
    out, ok = run_fit("mask_objs_take_template", [[(a, a_out), (test, None), (bad, None)]])
    assert ok == [True, True, False]
    assert out[1] == [[0, 0, 0, 0], [0, 3, 3, 0], [0, 1, 3, 0], [3, 3, 0, 0], [1, 3, 0, 0]]


def test_complete_symmetry_lines_fit_fills_the_mirror_axis():
    full = [[1, 2, 3, 4],
            [2, 1, 2, 3],
            [3, 2, 1, 2],
            [4, 3, 2, 1]]
    hidden = [[1, 2, 3, 4],
              [2, 0, 0, 3],
              [3, 0, 0, 2],
              [4, 3, 2, 1]]
    test = [[5, 6, 7], [6, 0, 6], [7, 6, 5]]
    out, ok = run_fit("complete_symmetry_lines_fit", [[(hidden, full), (test, None)]])
    assert ok == [True, True]
    assert out[0] == full
    assert out[1] == [[5, 6, 7], [6, 5, 6], [7, 6, 5]]


def test_recolour_like_enclosed_template():
    a = [[5, 5, 5, 5, 5, 0, 0, 0, 0],
         [5, 0, 0, 0, 5, 0, 1, 1, 0],
         [5, 0, 2, 0, 5, 0, 0, 0, 0],
         [5, 0, 2, 0, 5, 0, 0, 1, 0],
         [5, 0, 0, 0, 5, 0, 0, 1, 0],
         [5, 5, 5, 5, 5, 0, 0, 0, 0],
         [0, 0, 0, 0, 0, 0, 0, 0, 0],
         [0, 3, 3, 0, 0, 0, 0, 0, 0]]
    out, ok = run_plain("recolour_like_enclosed_template", [a])
    assert ok == [True]
    expect = [row[:] for row in a]
    expect[3][7] = expect[4][7] = 2                 # the vertical pair takes the framed template's colour
    assert out[0] == expect
    _, ok = run_plain("recolour_like_enclosed_template", [[[0, 1, 1, 0], [0, 0, 0, 0], [0, 2, 2, 0]]])
    assert ok == [False]                            # no framed template


def test_unmask_mirror_restores_the_occluded_half():
    a = [[0, 6, 0, 0, 6, 0],
         [0, 6, 6, 1, 1, 0],
         [0, 0, 6, 1, 1, 0],
         [0, 0, 0, 0, 0, 0]]
    out, ok = run_plain("unmask_mirror", [a])
    assert ok == [True]
    assert out[0] == [[0, 6, 0, 0, 6, 0],
                      [0, 6, 6, 6, 6, 0],
                      [0, 0, 6, 6, 0, 0],
                      [0, 0, 0, 0, 0, 0]]


def test_rows_follow_template():
    a = [[0, 0, 0, 0, 0, 0],
         [3, 3, 2, 3, 3, 2],
         [0, 0, 0, 0, 0, 0],
         [8, 8, 4, 0, 0, 0],
         [1, 0, 6, 0, 1, 0]]                        # any cells of the template may be given
    out, ok = run_plain("rows_follow_template", [a, [[1, 2, 1], [5, 0, 0]]])
    assert ok == [True, False]                      # second grid: colour 2 of the template never read in row 1
    _, ok = run_plain("rows_follow_template", [[[3, 3, 2], [8, 4, 0]]])
    assert ok == [False]                            # template colour 3 read as both 8 and 4
    assert out[0] == [[0, 0, 0, 0, 0, 0],
                      [3, 3, 2, 3, 3, 2],
                      [0, 0, 0, 0, 0, 0],
                      [8, 8, 4, 8, 8, 4],
                      [1, 1, 6, 1, 1, 6]]


def test_recolour_rows_by_marker_fit():
    a, a_out = [[0, 0, 5], [0, 5, 0], [5, 0, 0]], [[3, 3, 3], [4, 4, 4], [2, 2, 2]]
    test = [[0, 5, 0], [0, 0, 5], [0, 5, 0]]
    unseen = [[0, 5, 0, 0]]                         # column 1 seen, but sizes differ... still keyed by column
    out, ok = run_fit("recolour_rows_by_marker_fit", [[(a, a_out), (test, None), (unseen, None)]])
    assert ok == [True, True, True]
    assert out[1] == [[4, 4, 4], [3, 3, 3], [4, 4, 4]]
    assert out[2] == [[4, 4, 4, 4]]
    _, ok = run_fit("recolour_rows_by_marker_fit", [[(a, a_out), ([[0, 0, 0, 5]], None)]])
    assert ok == [True, False]                      # a marker column no demo showed
