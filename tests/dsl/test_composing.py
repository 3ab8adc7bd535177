"""Composing primitives: one half of a doubled grid, the one non-empty panel copied into all panels, the majority
colour at the demos' shared output size."""
from dsl_helpers import run_fit, run_plain


def test_half_repeated_picks_the_equal_halves():
    lr = [[1, 2, 1, 2], [3, 0, 3, 0]]
    ud = [[1, 2], [3, 4], [1, 2], [3, 4]]
    sep = [[1, 5, 1], [2, 5, 2]]                 # odd width, middle column a separator
    no = [[1, 2, 2, 1], [3, 0, 0, 3]]
    out, ok = run_plain("half_repeated", [lr, ud, sep, no])
    assert ok == [True, True, True, False]
    assert out[0] == [[1, 2], [3, 0]]
    assert out[1] == [[1, 2], [3, 4]]
    assert out[2] == [[1], [2]]


def test_panels_broadcast_copies_the_one_filled_panel():
    panel, line = [[0, 0, 5, 3, 0], [0, 0, 5, 0, 4]], [[5] * 5]
    g = panel + line + [[0, 0, 5, 0, 0]] * 2    # 2 x 2 panels, only the top-right one filled
    out, ok = run_plain("panels_broadcast", [g])
    assert ok == [True]
    copy = [[3, 0, 5, 3, 0], [0, 4, 5, 0, 4]]
    assert out[0] == copy + line + copy
    two = [row[:] for row in g]
    two[3][0] = 1                                # two non-empty panels: no single source
    assert run_plain("panels_broadcast", [two])[1] == [False]


def test_majority_colour_fill_fit_uses_the_shared_output_size():
    a = [[0, 3, 3], [3, 1, 0]]
    b = [[2, 0], [0, 0]]
    test = [[4, 4, 0, 1]]
    out, ok = run_fit("majority_colour_fill_fit", [[(a, [[3, 3]]), (b, [[2, 2]]), (test, None)]])
    assert ok == [True, True, True]
    assert out[2] == [[4, 4]]
    _, ok = run_fit("majority_colour_fill_fit", [[(a, [[3, 3]]), (b, [[2]]), (test, None)]])
    assert ok == [False, False, False]


def test_unify_colours_paints_the_majority_colour():
    out, ok = run_plain("unify_colours", [[[3, 3, 0], [3, 8, 3]], [[1, 2]], [[4, 0]]])
    assert out[0] == [[3, 3, 0], [3, 3, 3]]
    assert ok == [True, False, False]              # a tie; nothing to change


def test_panels_count_pixels_fit_maps_cell_counts():
    a = [[6, 0, 8, 0, 0], [6, 0, 8, 0, 6]]        # panels with 2 and 1 cells
    b = [[0, 0, 8, 6, 6], [0, 0, 8, 0, 0]]        # 0 and 2
    test = [[0, 6, 8, 6, 0], [6, 0, 8, 0, 0]]     # 2 and 1
    out, ok = run_fit("panels_count_pixels_fit", [[(a, [[1, 0]]), (b, [[0, 1]]), (test, None)]])
    assert ok == [True, True, True]
    assert out[2] == [[1, 0]]
    unseen = [[6, 6, 8, 6, 6], [6, 0, 8, 0, 0]]    # 3 cells: no demo panel had 3
    _, ok = run_fit("panels_count_pixels_fit", [[(a, [[1, 0]]), (b, [[0, 1]]), (unseen, None)]])
    assert ok[2] is False


def test_recolour_holes_by_count_fit():
    a = [[1, 1, 1, 1, 1, 0],                      # a 1-cell hole and a 2-cell hole
         [1, 0, 1, 0, 0, 1],
         [1, 1, 1, 1, 1, 1]]
    a_out = [[1, 1, 1, 1, 1, 0], [1, 7, 1, 2, 2, 1], [1, 1, 1, 1, 1, 1]]
    test = [[1, 1, 1, 1, 0, 0, 0],                # holes of 2 and 1 cells
            [1, 0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 0, 1, 1], [1] * 7, [0] * 7]
    out, ok = run_fit("recolour_holes_by_count_fit", [[(a, a_out), (test, None)]])
    assert ok == [True, True]
    assert out[1][:3] == [[1, 1, 1, 1, 0, 0, 0], [1, 2, 2, 1, 1, 1, 1], [1, 1, 1, 1, 7, 1, 1]]
    three = [[1, 1, 1, 1, 1], [1, 0, 0, 0, 1], [1, 1, 1, 1, 1]]
    _, ok = run_fit("recolour_holes_by_count_fit", [[(a, a_out), (three, None)]])
    assert ok == [True, False]                    # a 3-cell hole was never seen


def test_recolour_by_phase_fit_column_mod_3_and_uniform_rows():
    a, a_out = [[4, 4, 4, 4], [4, 0, 4, 0]], [[6, 4, 4, 6], [6, 0, 4, 0]]   # every third column: 4 -> 6
    test = [[4, 4, 4, 4, 4], [0, 4, 0, 4, 0]]
    out, ok = run_fit("recolour_by_phase_fit", [[(a, a_out), (test, None)]])
    assert ok == [True, True]
    assert out[1] == [[6, 4, 4, 6, 4], [0, 4, 0, 6, 0]]   # (0, phase 2) unseen: kept
    b, b_out = [[3, 3], [3, 1]], [[5, 5], [0, 0]]                          # one-colour rows -> 5, others -> 0
    c, c_out = [[3, 1], [3, 3]], [[0, 0], [5, 5]]                          # 3 at (0, 0) -> 5 or 0: no colour key fits
    out, ok = run_fit("recolour_by_phase_fit", [[(b, b_out), (c, c_out), ([[2, 2], [8, 9]], None)]])
    assert ok == [True] * 3 and out[2] == [[5, 5], [0, 0]]


def test_panel_asymmetric_picks_the_one_unsymmetric_panel():
    sym1, odd, sym2 = [[8, 9], [9, 8]], [[4, 4], [3, 4]], [[2, 1], [1, 1]]
    out, ok = run_plain("panel_asymmetric", [sym1 + odd + sym2, sym1 + sym2 + sym1])
    assert ok == [True, False]
    assert out[0] == odd
