"""Linking primitives: lines drawn relative to points and objects (the majority colour as the background)."""
from dsl_helpers import run_fit, run_plain, text


def blank(h, w, fill=0):
    return [[fill] * w for _ in range(h)]


def put(g, cells):
    g = [row[:] for row in g]
    for (r, c), v in cells.items():
        g[r][c] = v
    return g


def test_l_path_fit_joins_two_pixels_with_an_l():
    a = put(blank(4, 5), {(0, 0): 2, (3, 4): 8})
    a_out = [[2, 0, 0, 0, 0],
             [4, 0, 0, 0, 0],
             [4, 0, 0, 0, 0],
             [4, 4, 4, 4, 8]]                   # the corner on the row of the 8, the column of the 2
    test = put(blank(3, 4), {(2, 0): 2, (0, 3): 8})
    out, ok = run_fit("l_path_fit", [[(a, a_out), (test, None)]])
    assert ok == [True, True]
    assert out[1] == [[4, 4, 4, 8], [4, 0, 0, 0], [2, 0, 0, 0]]
    _, ok = run_fit("l_path_fit", [[(a, a_out), (put(blank(3, 3), {(0, 0): 2}), None)]])
    assert ok == [True, False]                   # one pixel: nothing to join


def test_lines_by_colour_fit_draws_rows_or_columns_per_colour():
    a = put(blank(4, 4), {(0, 1): 2, (2, 3): 3})
    a_out = [[0, 2, 0, 0],
             [0, 2, 0, 0],
             [3, 3, 3, 3],                       # rows over columns
             [0, 2, 0, 0]]
    test = put(blank(3, 5), {(1, 0): 3, (2, 3): 2})
    out, ok = run_fit("lines_by_colour_fit", [[(a, a_out), (test, None)]])
    assert ok == [True, True]
    assert out[1] == [[0, 0, 0, 2, 0], [3, 3, 3, 3, 3], [0, 0, 0, 2, 0]]


def test_connect_meet_fit_joins_facing_pixels_halfway():
    a = [[1, 0, 0, 0, 0, 0, 2], [0, 0, 0, 0, 0, 0, 0], [3, 0, 0, 0, 0, 0, 7]]
    a_out = [[1, 1, 1, 5, 2, 2, 2], [0, 0, 0, 0, 0, 0, 0], [3, 3, 3, 5, 7, 7, 7]]
    test = [[4, 0, 0, 0, 8], [0, 0, 0, 0, 0], [6, 0, 0, 0, 9]]   # rows only: the column pairs stay apart
    out, ok = run_fit("connect_meet_fit", [[(a, a_out), (test, None)]])
    assert ok == [True, True]
    assert out[1] == [[4, 4, 5, 8, 8], [0, 0, 0, 0, 0], [6, 6, 5, 9, 9]]


def test_corner_rays_fit_casts_fitted_directions_from_corners():
    a = put(blank(6, 6), {(1, 1): 1, (1, 2): 1, (2, 1): 1, (2, 2): 1, (4, 4): 2})
    a_out = put(a, {(0, 0): 1, (5, 5): 2})      # 1 goes up-left from its corner, 2 down-right
    test = put(blank(5, 5), {(2, 2): 1, (1, 3): 2})
    out, ok = run_fit("corner_rays_fit", [[(a, a_out), (test, None)]])
    assert ok == [True, True]
    assert out[1] == put(test, {(1, 1): 1, (0, 0): 1, (2, 4): 2})


def test_extend_tails_cross_fit_marks_crossings():
    a = put(blank(5, 5), {(0, 3): 8, (1, 3): 8, (3, 0): 2, (3, 1): 2})
    a_out = put(a, {(2, 3): 8, (4, 3): 8, (3, 2): 2, (3, 3): 4, (3, 4): 2})
    test = put(blank(5, 5), {(0, 1): 8, (1, 1): 8, (3, 3): 2, (3, 4): 2})
    out, ok = run_fit("extend_tails_cross_fit", [[(a, a_out), (test, None)]])
    assert ok == [True, True]
    assert out[1] == put(test, {(2, 1): 8, (4, 1): 8, (3, 0): 2, (3, 1): 4, (3, 2): 2})


def test_major_variants_use_the_majority_colour_as_background():
    g = blank(5, 5, 1)
    g[2][2] = 0
    out, ok = run_plain("rays_diag_major", [g, put(blank(3, 3), {(1, 1): 2})])
    assert ok == [True, False]                   # background already 0: the plain primitive's job
    assert [out[0][i][i] for i in range(5)] == [0] * 5 and out[0][0][4] == 0 and out[0][0][1] == 1
    h = blank(5, 6, 8)
    h = put(h, {(1, 1): 3, (1, 2): 3, (2, 1): 3, (2, 2): 3, (1, 5): 4, (4, 4): 4})
    out, ok = run_plain("rays_to_objects_major", [h])
    assert ok == [True]
    assert out[0][1] == [8, 3, 3, 4, 4, 4] and out[0][4] == h[4]


def test_centre_lines_fit_draws_lines_through_object_centres():
    a = put(blank(5, 5), {(1, 1): 1, (1, 2): 1, (1, 3): 1, (2, 1): 1, (2, 3): 1, (3, 1): 1, (3, 2): 1, (3, 3): 1})
    a_out = [[0, 0, 6, 0, 0], [0, 1, 1, 1, 0], [6, 1, 6, 1, 6], [0, 1, 1, 1, 0], [0, 0, 6, 0, 0]]
    test = put(blank(4, 5), {(1, 1): 2, (1, 2): 2, (1, 3): 2})           # a 1x3 bar: centre row 1, column 2
    out, ok = run_fit("centre_lines_fit", [[(a, a_out), (test, None)]])
    assert ok == [True, True]
    assert out[1] == [[0, 0, 6, 0, 0], [6, 2, 2, 2, 6], [0, 0, 6, 0, 0], [0, 0, 6, 0, 0]]


def test_alternate_run_fit_recolours_every_second_cell():
    a = [[2, 0, 0], [0, 2, 0], [0, 0, 2]]
    a_out = [[2, 0, 0], [0, 4, 0], [0, 0, 2]]
    test = [[3, 0, 0, 0], [0, 3, 0, 3], [0, 0, 3, 0], [0, 0, 0, 3]]
    out, ok = run_fit("alternate_run_fit", [[(a, a_out), (test, None)]])
    assert ok == [True, True]
    assert out[1] == [[3, 0, 0, 0], [0, 4, 0, 3], [0, 0, 3, 0], [0, 0, 0, 4]]


def test_edge_projection_fit_marks_crossings_of_edge_marks():
    a = [[5, 0, 5, 0], [0, 0, 0, 5], [0, 0, 0, 0], [0, 0, 0, 5]]
    a_out = [[5, 0, 5, 0], [2, 0, 2, 5], [0, 0, 0, 0], [2, 0, 2, 5]]
    test = [[0, 5, 0], [0, 0, 5], [0, 0, 0]]
    out, ok = run_fit("edge_projection_fit", [[(a, a_out), (test, None)]])
    assert ok == [True, True]
    assert out[1] == [[0, 5, 0], [0, 2, 5], [0, 0, 0]]


def test_rays_bend_fit_turns_along_the_border():
    a = put(blank(5, 4), {(1, 1): 2, (3, 2): 3})
    a_out = [[0, 0, 0, 0], [0, 2, 2, 2], [0, 0, 0, 2], [0, 0, 3, 3], [0, 0, 0, 3]]
    test = put(blank(4, 3), {(0, 0): 6, (2, 1): 7})
    out, ok = run_fit("rays_bend_fit", [[(a, a_out), (test, None)]])
    assert ok == [True, True]
    assert out[1] == [[6, 6, 6], [0, 0, 6], [0, 7, 7], [0, 0, 7]]


def test_stripes_from_pair_repeats_lines_along_the_long_side():
    g = put(blank(3, 9), {(0, 1): 2, (2, 3): 8})
    out, ok = run_plain("stripes_from_pair", [g, blank(3, 3), put(blank(3, 3), {(0, 0): 1, (2, 2): 2})])
    assert ok == [True, False, False]            # no pixels; a square grid has no long side
    assert out[0] == [[0, 2, 0, 8, 0, 2, 0, 8, 0]] * 3


def test_tip_ray_shoots_from_the_odd_cell_through_the_centre():
    g = put(blank(5, 7), {(1, 1): 2, (2, 1): 1, (3, 1): 2, (2, 2): 2})
    out, ok = run_plain("tip_ray", [g, put(blank(3, 3), {(1, 1): 2})])
    assert ok == [True, False]
    assert out[0][2] == [0, 1, 2, 1, 1, 1, 1] and out[0][0] == g[0]


def test_midpoint_fit_marks_the_middle_of_facing_pixels():
    a = put(blank(3, 5), {(1, 0): 1, (1, 4): 1})
    a_out = put(a, {(1, 2): 3})
    test = put(blank(5, 2), {(0, 1): 1, (4, 1): 1})
    out, ok = run_fit("midpoint_fit", [[(a, a_out), (test, None)]])
    assert ok == [True, True]
    assert out[1] == put(test, {(2, 1): 3})


def test_repeat_runs_extends_runs_periodically():
    g = put(blank(5, 7), {(2, 1): 8, (2, 2): 3, (2, 3): 2, (1, 2): 4})
    out, ok = run_plain("repeat_runs", [g, put(blank(3, 3), {(1, 1): 5})])
    assert ok == [True, False]                   # a lone pixel is no run
    assert out[0][2] == [2, 8, 3, 2, 8, 3, 2]
    assert [r[2] for r in out[0]] == [3, 4, 3, 4, 3]


def test_wall_rays_fit_casts_towards_or_away_from_the_wall():
    a = blank(7, 5)
    a[3] = [5] * 5
    a = put(a, {(1, 1): 2, (5, 3): 2, (1, 3): 1, (5, 0): 1})
    a_out = put(a, {(2, 1): 2, (4, 3): 2, (0, 3): 1, (6, 0): 1})
    test = blank(6, 6)
    for r in range(6):
        test[r][2] = 5
    test = put(test, {(1, 0): 2, (4, 4): 1})
    out, ok = run_fit("wall_rays_fit", [[(a, a_out), (test, None)]])
    assert ok == [True, True]
    assert out[1][1] == [2, 2, 5, 0, 0, 0] and out[1][4] == [0, 0, 5, 0, 1, 1]


def test_rays_detour_fit_steps_around_obstacles():
    a = put(blank(6, 5), {(5, 1): 2, (2, 1): 5})
    a_out = [[0, 0, 2, 0, 0],
             [0, 0, 2, 0, 0],
             [0, 5, 2, 0, 0],                   # blocked below the 5: one step right, then up again
             [0, 2, 2, 0, 0],
             [0, 2, 0, 0, 0],
             [0, 2, 0, 0, 0]]
    test = put(blank(5, 4), {(4, 2): 3, (1, 2): 5, (4, 0): 3})
    out, ok = run_fit("rays_detour_fit", [[(a, a_out), (test, None)]])
    assert ok == [True, True]
    assert out[1] == [[3, 0, 0, 3], [3, 0, 5, 3], [3, 0, 3, 3], [3, 0, 3, 0], [3, 0, 3, 0]]


def test_corner_trails_fit_slides_towards_marked_corners():
    a = put(blank(6, 6), {(2, 2): 4, (2, 3): 2, (3, 2): 4, (3, 3): 4})     # the 2 marks the top-right corner
    a_out = text("000044", "000444", "004440", "004400", "000000", "000000")
    test = put(blank(6, 5), {(3, 1): 3, (3, 2): 3, (4, 1): 2, (4, 2): 3})  # marked bottom-left
    out, ok = run_fit("corner_trails_fit", [[(a, a_out), (test, None)]])
    assert ok == [True, True]
    assert out[1] == put(blank(6, 5), {(3, 1): 3, (3, 2): 3, (4, 0): 3, (4, 1): 3, (4, 2): 3, (5, 0): 3, (5, 1): 3})
    _, ok = run_fit("corner_trails_fit", [[(a, a_out), (put(blank(4, 4), {(1, 1): 4, (1, 2): 4}), None)]])
    assert ok == [True, False]                   # no marked corner


def test_region_diagonals_recode_colours_along_marker_diagonals():
    g = [[8, 8, 8, 2, 2, 2],
         [8, 1, 8, 2, 2, 2],
         [8, 8, 8, 2, 2, 2],
         [8, 8, 8, 2, 2, 2]]                   # the 1 sits in the 8 region: 8 -> 1; no marker codes 2
    out, ok = run_plain("region_diagonals", [g, [[8, 8], [8, 8]]])
    assert ok == [True, False]
    assert out[0] == [[1, 8, 1, 2, 2, 2],
                      [8, 1, 8, 2, 2, 2],
                      [1, 8, 1, 2, 2, 2],
                      [8, 8, 8, 2, 2, 2]]     # the diagonals' 2 cells stay (2 has no code)
    h = [[3, 3, 3, 3, 3], [3, 4, 3, 3, 3], [3, 3, 3, 3, 3], [3, 3, 3, 5, 3], [3, 3, 3, 3, 3]]
    _, ok = run_plain("region_diagonals", [h])
    assert ok == [False]                         # 3 -> 4 and 3 -> 5 disagree


def test_bounce_tails_fit_reflects_off_walls():
    a = [[0, 0, 0, 0, 0, 2] for _ in range(6)]
    a = put(a, {(5, 0): 8, (4, 1): 8})
    a_out = put(a, {(3, 2): 3, (2, 3): 3, (1, 4): 3, (0, 3): 3})     # up-right, bounced up-left by the wall
    test = [[2, 0, 0, 0, 0, 0] for _ in range(6)]
    test = put(test, {(5, 5): 8, (4, 4): 8})
    out, ok = run_fit("bounce_tails_fit", [[(a, a_out), (test, None)]])
    assert ok == [True, True]
    assert out[1] == put(test, {(3, 3): 3, (2, 2): 3, (1, 1): 3, (0, 2): 3})


def test_staircase_fit_grows_runs_above_and_shrinks_below():
    a = put(blank(6, 6), {(2, 0): 2, (2, 1): 2})
    a_out = text("333300", "333000", "220000", "100000", "000000", "000000")
    test = put(blank(5, 6), {(1, 1): 2, (1, 2): 2, (1, 3): 2})
    out, ok = run_fit("staircase_fit", [[(a, a_out), (test, None)]])
    assert ok == [True, True]
    assert out[1] == [[0, 3, 3, 3, 3, 0], [0, 2, 2, 2, 0, 0], [0, 1, 1, 0, 0, 0], [0, 1, 0, 0, 0, 0], [0] * 6]
    _, ok = run_fit("staircase_fit", [[(a, a_out), (put(blank(3, 3), {(0, 0): 2, (1, 1): 2}), None)]])
    assert ok == [True, False]                   # not one horizontal segment


def test_frame_corner_rays_shoot_the_inner_colour_from_the_frame_corners():
    g = text("330900", "330900", "000900", "999900", "000000", "000000")
    out, ok = run_plain("frame_corner_rays", [g, put(blank(3, 3), {(0, 0): 1, (2, 2): 2})])
    assert ok == [True, False]                   # two pixels: neither box holds the other
    assert out[0] == put(g, {(4, 4): 3, (5, 5): 3})


def test_connect_across_lines_joins_blocks_of_a_grid_of_cells():
    g = text("20102",
             "11111",
             "30104",
             "11111",
             "00103")
    out, ok = run_plain("connect_across_lines", [g, text("20102", "11111", "30104")])
    assert out[0] == text("22122",              # the separator colour 1 is seen through and stays
                          "11111",
                          "30104",              # 3 and 4 differ: no line
                          "11111",
                          "00103")
    assert ok == [True, True]
    _, ok = run_plain("connect_across_lines", [text("20103", "11111", "30104")])
    assert ok == [False]                        # no same-colour pair: nothing joined
