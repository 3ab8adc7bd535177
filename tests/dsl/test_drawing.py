"""Drawing and recolouring primitives: multi-direction rays, colour boxes, empty lines, recolouring by count,
background regions by size class, and the orthogonal/diagonal neighbourhood map."""
from dsl_helpers import run_fit
from dsl_helpers import run_plain as run


def test_rays_in_several_directions_stop_at_obstacles_and_take_the_nearest_source():
    g = [[0, 0, 0, 0, 0],
         [0, 3, 0, 0, 4],
         [0, 0, 0, 0, 0]]
    assert run("rays_h", [g])[0][0] == [[0, 0, 0, 0, 0], [3, 3, 3, 4, 4], [0, 0, 0, 0, 0]]
    assert run("rays_v", [g])[0][0] == [[0, 3, 0, 0, 4], [0, 3, 0, 0, 4], [0, 3, 0, 0, 4]]
    out = run("rays_all", [[[0, 0, 0], [0, 2, 0], [0, 0, 0]]])[0][0]
    assert out == [[2, 2, 2], [2, 2, 2], [2, 2, 2]]
    assert run("rays_orth", [[[0, 0, 0], [0, 2, 0], [0, 0, 0]]])[0][0] == [[0, 2, 0], [2, 2, 2], [0, 2, 0]]


def test_fill_colour_bbox_smaller_box_wins():
    g = [[5, 0, 0, 0],
         [0, 1, 0, 1],
         [0, 0, 0, 0],
         [0, 0, 0, 5]]
    out, ok = run("fill_colour_bbox", [g])
    assert out[0] == [[5, 5, 5, 5], [5, 1, 1, 1], [5, 5, 5, 5], [5, 5, 5, 5]] and ok == [True]


def test_fill_empty_lines_fit():
    a = [[1, 0, 0], [0, 0, 0], [0, 0, 3]]
    b = [[0, 0], [0, 4]]
    fa = [[1, 2, 0], [2, 2, 2], [0, 2, 3]]
    fb = [[2, 2], [2, 4]]
    out, ok = run_fit("fill_empty_lines_fit", [[(a, fa), (b, fb), ([[0, 6], [0, 0]], None)]])
    assert all(ok) and out[2] == [[2, 6], [2, 2]]


def test_recolour_by_count_and_bg_regions():
    a = [[1, 0, 1, 1, 0, 1], [0, 0, 0, 0, 0, 1]]
    fa = [[2, 0, 3, 3, 0, 3], [0, 0, 0, 0, 0, 3]]
    b = [[1, 1, 0, 1]]
    fb = [[3, 3, 0, 2]]
    out, ok = run_fit("recolour_by_count_fit", [[(a, fa), (b, fb), ([[1, 0, 1, 1]], None)]])
    assert all(ok) and out[2] == [[2, 0, 3, 3]]
    walls = [[0, 5, 0, 0], [5, 5, 0, 0], [0, 0, 0, 0]]           # regions: 1 cell (top-left), 7 cells
    fw = [[8, 5, 0, 0], [5, 5, 0, 0], [0, 0, 0, 0]]
    test = [[0, 0, 5, 0], [5, 5, 5, 0]]                           # regions: 2 cells, 2 cells: a tie, both "largest"
    out, ok = run_fit("recolour_bg_regions_fit", [[(walls, fw), (test, None)]])
    assert ok == [True, True] and out[1] == test


def test_local_map_colour44_tells_orthogonal_from_diagonal_neighbours():
    a = [[0, 0, 0], [0, 2, 0], [0, 0, 0]]
    fa = [[4, 0, 4], [0, 2, 0], [4, 0, 4]]
    out, ok = run_fit("local_map_colour44_fit", [[(a, fa), ([[2, 0], [0, 0]], None)]])
    assert all(ok) and out[1] == [[2, 0], [0, 4]]
