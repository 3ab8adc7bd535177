"""Stamping primitives: a fitted pattern painted around every non-background cell, keyed by its colour."""
from dsl_helpers import run_fit, run_plain


def test_stamp3x3_fit_paints_per_colour_patterns():
    a = [[0, 0, 0, 0, 0, 0],
         [0, 2, 0, 0, 0, 0],
         [0, 0, 0, 0, 1, 0],
         [0, 0, 0, 0, 0, 0]]
    a_out = [[4, 0, 4, 0, 0, 0],                 # red: yellow diagonals; blue: orange cross
             [0, 2, 0, 0, 7, 0],
             [4, 0, 4, 7, 1, 7],
             [0, 0, 0, 0, 7, 0]]
    test = [[1, 0, 0, 0, 0],
            [0, 0, 0, 0, 0],
            [0, 0, 0, 2, 0]]
    out, ok = run_fit("stamp3x3_fit", [[(a, a_out), (test, None)]])
    assert ok == [True, True]
    assert out[1] == [[1, 7, 0, 0, 0],
                      [7, 0, 4, 0, 4],
                      [0, 0, 0, 2, 0]]


def test_stamp3x3_fit_leaves_unseen_colours_and_fails_on_clash():
    a, a_out = [[0, 0, 0], [0, 2, 0], [0, 0, 0]], [[0, 5, 0], [5, 2, 5], [0, 5, 0]]
    unseen = [[0, 0, 0, 0], [0, 3, 0, 2], [0, 0, 0, 0]]     # colour 3 never seen in a demo: no stamp
    out, ok = run_fit("stamp3x3_fit", [[(a, a_out), (unseen, None)]])
    assert ok == [True, True]
    assert out[1] == [[0, 0, 0, 5], [0, 3, 5, 2], [0, 0, 0, 5]]
    b, b_out = [[0, 0, 0], [0, 6, 0], [0, 0, 0]], [[0, 0, 0], [8, 6, 0], [0, 0, 0]]  # 6: left neighbour -> 8
    clash = [[0, 0, 0, 0], [0, 2, 0, 6], [0, 0, 0, 0]]     # (1, 2): 5 from the 2, 8 from the 6
    _, ok = run_fit("stamp3x3_fit", [[(a, a_out), (b, b_out), (clash, None)]])
    assert ok == [True, True, False]
    _, ok = run_fit("stamp3x3_fit", [[(a, [[0, 5, 0], [5, 2, 5]])]])               # sizes differ
    assert ok == [False]


def test_flood_from_colour_fit_fills_the_regions_touching_the_fitted_colour():
    a = [[0, 0, 3, 0],
         [1, 0, 3, 0],
         [3, 3, 3, 0]]
    a_out = [[1, 1, 3, 0],                       # the region next to the 1 fills, the one beyond the wall does not
             [1, 1, 3, 0],
             [3, 3, 3, 0]]
    test = [[0, 3, 0, 0],
            [3, 0, 0, 1],
            [0, 0, 3, 0]]
    out, ok = run_fit("flood_from_colour_fit", [[(a, a_out), (test, None)]])
    assert ok == [True, True]
    assert out[1] == [[0, 3, 1, 1],
                      [3, 1, 1, 1],
                      [1, 1, 3, 1]]
    no_seed = [[0, 3], [3, 0]]                  # no cell of the fitted colour: nothing to flood
    _, ok = run_fit("flood_from_colour_fit", [[(a, a_out), (no_seed, None)]])
    assert ok == [True, False]
    _, ok = run_fit("flood_from_colour_fit", [[(a, a)]])   # no colour reproduces the demo
    assert ok == [False]


def test_rays_to_objects_draws_only_rays_that_hit_an_object():
    g = [[0, 0, 0, 0, 0, 0],
         [0, 0, 0, 0, 0, 0],
         [4, 0, 0, 3, 3, 0],
         [0, 0, 0, 3, 3, 0],
         [0, 0, 0, 0, 0, 6],
         [0, 0, 0, 0, 1, 0]]                    # 6 and 1 touch diagonally: not lone pixels
    lone = [[0, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 7, 0],
            [4, 0, 0, 3, 3, 0],
            [0, 0, 0, 3, 3, 0],
            [0, 0, 0, 0, 0, 0],
            [0, 0, 0, 2, 0, 0]]
    out, ok = run_plain("rays_to_objects", [g, lone])
    assert ok == [True, True]
    assert out[0][2] == [4, 4, 4, 3, 3, 0] and out[0][4:] == g[4:]
    assert [row[3] for row in out[1]] == [0, 0, 3, 3, 2, 2]     # the 2 below shoots up; the 7 above touches
    assert out[1][1] == [0, 0, 0, 0, 7, 0]
    _, ok = run_plain("rays_to_objects", [[[4, 0, 0, 5], [0, 0, 0, 0]], [[2, 0, 3, 3], [0, 0, 3, 3]]])
    assert ok == [False, True]                   # two lone pixels facing each other: no object hit


def test_extend_tails_continues_line_ends():
    g = [[0, 0, 0, 0, 0],
         [0, 3, 0, 0, 0],
         [0, 0, 3, 3, 0],
         [0, 0, 3, 3, 0],
         [0, 0, 0, 0, 0]]                       # a square with one diagonal tail
    seg = [[0, 0, 0, 0], [0, 5, 5, 0], [0, 0, 0, 0]]
    out, ok = run_plain("extend_tails", [g, seg, [[0, 2, 0], [0, 0, 0]], [[2, 0], [0, 4]]])
    assert ok == [True, True, False, False]      # a lone pixel has no direction; tails pointing off the board
    assert out[0][0] == [3, 0, 0, 0, 0] and out[0][1:] == g[1:]
    assert out[1] == [[0, 0, 0, 0], [5, 5, 5, 5], [0, 0, 0, 0]]


def test_stamp_template_copies_the_object_onto_lone_pixels():
    g = [[0] * 8 for _ in range(8)]
    for (r, c), v in {(1, 1): 1, (1, 2): 2, (2, 2): 3, (3, 2): 3, (3, 3): 4, (5, 6): 5}.items():
        g[r][c] = v                                     # a 3x3 template and a lone pixel
    out, ok = run_plain("stamp_template", [g])
    assert ok == [True]
    assert out[0][:4] == g[:4]                          # the template stays
    assert out[0][4:7] == [[0, 0, 0, 0, 0, 1, 2, 0],     # the pixel became the template's centre
                           [0, 0, 0, 0, 0, 0, 3, 0],
                           [0, 0, 0, 0, 0, 0, 3, 4]]
    even = [[1, 1, 0, 0], [0, 0, 0, 5]]                  # a 1x2 template has no centre
    two = [[1, 1, 1, 0, 0], [0, 0, 0, 0, 0], [2, 2, 2, 0, 5]]
    _, ok = run_plain("stamp_template", [even, two, [[0, 4], [0, 0]]])
    assert ok == [False, False, False]
