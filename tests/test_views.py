"""The views (topas_lit/search/views.py): per-pair colour renamings are permutations fixed by the input alone,
shared colours keep their ids, a task whose roles change colour per demo is solved through the view and its answer
is renamed back, and a task renamed alike in every pair gets no view; the transposed view finds a rule the primitives
hold for rows only and transposes its answer back."""
import pytest

from topas_lit.data.tasks import Task
from topas_lit.search.engine import SearchEngine
from topas_lit.search.source import SearchSource
from topas_lit.search.views import (colour_view, inverse, kept_colours, recolour, renaming, transpose_view,
                                    unique_view)


def framed(colour: int, h: int, w: int, at: tuple[int, int]):
    """A 0 grid with one pixel of ``colour`` at ``at``, and the same grid with a frame of ``colour`` drawn."""
    grid = [[0] * w for _ in range(h)]
    grid[at[0]][at[1]] = colour
    out = [[colour if i in (0, h - 1) or j in (0, w - 1) else v for j, v in enumerate(row)] for i, row in enumerate(grid)]
    return grid, out


def frame_task():
    """Output: the input with a frame in the colour of its one pixel, a different colour in every demo."""
    demos = tuple(framed(c, h, w, at) for c, h, w, at in [(3, 5, 5, (2, 2)), (5, 4, 6, (1, 3)), (2, 6, 4, (3, 1))])
    test = framed(7, 5, 6, (2, 3))
    return Task("frame", demos, (test[0],), "synthetic"), test[1]


@pytest.fixture(scope="module")
def engine():
    return SearchEngine(depth=1, beam_width=8, policy_topk=8, order=("beam",), compose_pieces=0)


def test_renaming_is_a_permutation_keeping_the_kept_colours_and_ranking_the_rest_by_count():
    grid = [[0, 4, 4, 4], [0, 9, 9, 0], [0, 0, 0, 1]]
    perm = renaming(grid, kept={0, 1})
    assert sorted(perm) == list(range(10))
    assert perm[0] == 0 and perm[1] == 1                   # kept
    assert perm[4] == 2 and perm[9] == 3                    # most frequent free colour -> first free id
    assert recolour(recolour(grid, perm), inverse(perm)) == grid
    by_position = renaming(grid, kept={0, 1}, by="position")
    assert by_position[4] == 2 and by_position[9] == 3 and sorted(by_position) == list(range(10))
    assert renaming([[0, 9, 4, 4, 4]], kept={0}, by="position")[9] == 1          # first met, though fewer cells
    assert renaming([[0, 9, 4, 4, 4]], kept={0})[4] == 1                         # most cells


def test_kept_colours_follow_icecuber_rule():
    t, _ = frame_task()
    assert kept_colours(t) == {0}                           # only 0 is in every input; 3, 5, 2, 7 vary


def test_a_task_whose_colour_changes_per_demo_is_solved_through_the_view_and_renamed_back(engine):
    t, answer = frame_task()
    view, inverses = colour_view(t)
    assert {v for _, o in view.demos for row in o for v in row} == {0, 1}    # every demo's role colour is now 1
    plain = SearchSource(engine, canvases=(8,)).search([t])[0]
    assert answer not in plain.grids[0]
    both = SearchSource(engine, canvases=(8,), views=("task", "colours")).search([t])[0]
    assert both.grids[0][0] == answer
    assert both.programs[0][0].endswith("@colours")
    assert both.candidates > plain.candidates


def test_a_view_equal_to_an_earlier_one_is_searched_once_and_answers_alike(engine):
    t, answer = frame_task()
    count, position = colour_view(t), colour_view(t, by="position")
    assert (count[0].demos, count[0].test_inputs) == (position[0].demos, position[0].test_inputs)  # one pixel each
    one = SearchSource(engine, canvases=(8,), views=("task", "colours")).search([t])[0]
    both = SearchSource(engine, canvases=(8,), views=("task", "colours", "colours_position")).search([t])[0]
    assert both.grids == one.grids and both.grids[0][0] == answer
    assert both.candidates == one.candidates           # the position view reused the count view's search


def test_a_task_renamed_alike_in_every_pair_has_no_view():
    same = Task("same", (([[0, 3], [3, 3]], [[3, 3], [0, 3]]), ([[3, 0], [0, 0]], [[0, 0], [0, 3]])),
                ([[0, 0], [3, 0]],), "synthetic")
    assert colour_view(same) is None


def test_unknown_views_are_refused(engine):
    with pytest.raises(ValueError, match="rail.views"):
        SearchSource(engine, views=("task", "flips"))
    with pytest.raises(ValueError, match="rail.views"):
        SearchSource(engine, views=("colours",))


def column_of_count(colour: int, cells: list[tuple[int, int]], h: int, w: int):
    """A grid with ``cells`` of ``colour``, and a column of as many cells of it (no depth-1 primitive draws one)."""
    grid = [[0] * w for _ in range(h)]
    for r, c in cells:
        grid[r][c] = colour
    return grid, [[colour] for _ in cells]


def test_the_transposed_view_finds_a_rule_the_primitives_hold_for_rows_only(engine):
    demos = (column_of_count(3, [(0, 0), (2, 1)], 3, 3), column_of_count(3, [(1, 1), (1, 2), (2, 0)], 3, 4),
             column_of_count(3, [(0, 3)], 2, 4))
    test, answer = column_of_count(3, [(0, 0), (1, 1), (2, 2), (3, 0)], 4, 3)
    t = Task("column", demos, (test,), "synthetic")
    view, back = transpose_view(t)
    assert view.demos[0][1] == [[3, 3]] and back[0]([[1, 2]]) == [[1], [2]]
    plain = SearchSource(engine, canvases=(8,)).search([t])[0]
    assert answer not in plain.grids[0]
    both = SearchSource(engine, canvases=(8,), views=("task", "transpose")).search([t])[0]
    assert both.grids[0][0] == answer and both.programs[0][0] == "count_to_row @transpose"


def blob_and_pixels(blob: int, pixel: int, blob_cells: int, pixels: int):
    """A 6x6 grid: a solid run of ``blob_cells`` cells of colour ``blob`` along row 0, and ``pixels`` lone pixels of
    colour ``pixel`` on rows 2 and 4; the output keeps the pixels only."""
    grid = [[0] * 6 for _ in range(6)]
    for j in range(blob_cells):
        grid[0][j] = blob
    for n in range(pixels):
        grid[2 + 2 * (n // 3)][2 * (n % 3)] = pixel
    return grid, [[v if v == pixel else 0 for v in row] for row in grid]


def test_the_unique_view_gives_a_role_one_colour_where_counts_disagree():
    """The lone pixels outnumber the blob in one demo and not in the other: ranking by count renames them
    differently, ranking by what sets them apart (their number of components) alike in every pair."""
    t = Task("roles", (blob_and_pixels(3, 5, 6, 4), blob_and_pixels(7, 2, 3, 5)), (blob_and_pixels(4, 8, 5, 2)[0],),
             "synthetic")
    by_count, _ = colour_view(t)
    count_ids = [{v for row in o for v in row} - {0} for _, o in by_count.demos]
    assert count_ids[0] != count_ids[1]                      # counts rank the pixels first in one demo only
    view, back = unique_view(t)
    ids = [{v for row in o for v in row} - {0} for _, o in view.demos]
    assert ids[0] == ids[1] and len(ids[0]) == 1             # the pixels' colour: one id in every demo
    pixel_id = ids[0].pop()
    assert {v for row in view.test_inputs[0][2:] for v in row} == {0, pixel_id}   # and in the test input
    assert back[0](view.test_inputs[0]) == t.test_inputs[0]
    blob_ids = [set(g[0]) - {0} for g in [i for i, _ in view.demos] + list(view.test_inputs)]
    assert blob_ids[0] == blob_ids[1] == blob_ids[2] != {pixel_id}   # the blob: one other id in every pair


def test_answer_orders_rank_by_views_then_steps_keeping_the_found_order_on_ties():
    from topas_lit.search.source import TaskAnswers, ranked
    grids = [[[1]], [[2]], [[3]], [[4]]]
    answers = TaskAnswers("t", [grids], [["a | b | c", "d", "e | f", "g"]], [["beam"] * 4], 0, [[3, 1, 2, 1]],
                          [[1, 1, 2, 1]])
    assert ranked(answers, "found", 2).grids == [grids[:2]]
    assert ranked(answers, "views", 2).grids == [[[[3]], [[1]]]]              # found by two views, then found order
    assert ranked(answers, "steps", 3).grids == [[[[2]], [[4]], [[3]]]]       # 1 op, 1 op (found order), 2 ops
    assert ranked(answers, "views_steps", 4).programs == [["e | f", "d", "g", "a | b | c"]]


def test_a_view_searched_once_votes_once(engine):
    t, answer = frame_task()
    one = SearchSource(engine, canvases=(8,), views=("task", "colours"), attempts=4).search([t])[0]
    both = SearchSource(engine, canvases=(8,), views=("task", "colours", "colours_position"), attempts=4).search([t])[0]
    assert both.views == one.views and both.grids == one.grids
