"""Unverified guesses (rail ``nearest``, ``SearchEngine(guesses=...)``): the searched states closest to the demo
outputs answer only the attempts no verified answer fills; never a verified state again, the task's own grids or an
unchanged test input; after every verified answer in every answer order; unverified candidates for the evaluator,
no vote across views; no host reads."""
import torch

from test_compose import flip_lr, layered_task, packed_one, pieces_of
from topas_lit.callbacks.sync_guard import HostReadGuard
from topas_lit.data.tasks import Task
from topas_lit.modules.dsl.search import NEAREST
from topas_lit.search.engine import ENGINE_RAILS, SearchEngine
from topas_lit.search.pack import pack
from topas_lit.search.source import SearchSource, TaskAnswers, ranked, with_view


def engine(guesses: int, pieces: int = 0) -> SearchEngine:
    return SearchEngine(depth=1, beam_width=4, policy_topk=2, order=("beam",), compose_pieces=pieces,
                        guesses=guesses)


def test_guesses_answer_a_task_no_program_verifies_and_are_unverified():
    task, _ = layered_task()
    assert SearchSource(engine(0), canvases=(8,)).search([task])[0].grids == [[]]
    src = SearchSource(engine(2), canvases=(8,), attempts=2)
    found = src.search([task])[0]
    assert found.rails == [[NEAREST, NEAREST]]
    assert len({repr(g) for g in found.grids[0]}) == 2 and task.test_inputs[0] not in found.grids[0]
    cands = src([task])[0][0]
    assert [c.verified for c in cands] == [False, False] and cands[0].confidence > cands[1].confidence


def test_a_verified_answer_comes_before_every_guess():
    grids = [[[1, 2, 0], [0, 3, 0]], [[4, 0], [5, 6], [0, 7]], [[8, 8, 1, 0], [0, 2, 0, 0], [3, 0, 0, 9]],
             [[2, 0, 0], [0, 0, 5], [1, 1, 0]]]
    task = Task("flip", tuple((g, flip_lr(g)) for g in grids[:3]), (grids[3],), "synthetic")
    found = SearchSource(engine(2), canvases=(8,), attempts=3).search([task])[0]
    assert found.rails[0][0] == "beam" and found.grids[0][0] == flip_lr(grids[3])
    assert found.rails[0][1:] and set(found.rails[0][1:]) == {NEAREST}


def test_nearest_drops_verified_root_and_unchanged_states_and_ranks_by_closeness():
    target = [[1, 1], [2, 0]]
    test_in = [[0, 3], [3, 0]]
    packed = packed_one(target, test_in)
    slots = [([[1, 1], [2, 0]], [[5, 5], [5, 5]]),    # fits the demo: verified, not a guess
             ([[1, 1], [2, 2]], [[6, 6], [6, 6]]),    # 3 of 4 cells
             ([[1, 1], [2, 2]], test_in),             # the test input unchanged
             ([[1, 0], [0, 0]], [[7, 7], [7, 7]]),    # 2 of 4 cells
             ([[1, 1], [2, 2]], test_in)]             # the root (program 0): its test grid is the test input
    pieces = pieces_of(slots, [[[2, 2], [2, 2]]] * len(slots))
    pieces.score = torch.tensor([[2.0, 1.75, 1.75, 1.5, 1.75]])
    pieces.program[0, 4] = 0
    eng = engine(3)
    found = eng.nearest(pieces, packed, eng.empty_found(1, 4, packed))
    kept = found.score[0] > float("-inf")
    assert kept.tolist() == [True, True, False]
    assert found.cells[0, :2, 0, :2, :2].tolist() == [[[6, 6], [6, 6]], [[7, 7], [7, 7]]]
    assert (found.rail[0, :2] == ENGINE_RAILS.index(NEAREST)).all()
    assert bool((found.score[0, :2] < -1e5).all())            # below every verified rail's key


def test_each_guess_is_a_new_test_answer():
    """Pieces differ on the demo slots but a closer piece or an answer already found may hold the same test grid:
    the guesses skip those repeats and take the next piece, so two guesses are two distinct answers."""
    target = [[1, 1], [2, 0]]
    test_in = [[0, 3], [3, 0]]
    packed = packed_one(target, test_in)
    slots = [([[1, 1], [2, 2]], [[6, 6], [6, 6]]),    # 3 of 4 cells
             ([[1, 1], [0, 2]], [[6, 6], [6, 6]]),    # 2 of 4 cells, the same test grid as the first
             ([[1, 1], [1, 1]], [[8, 8], [8, 8]]),    # 2 of 4 cells, the test grid of a verified answer
             ([[1, 0], [0, 0]], [[7, 7], [7, 7]])]    # 1 of 4 cells
    pieces = pieces_of(slots, [[[2, 2], [2, 2]]] * len(slots))
    pieces.score = torch.tensor([[1.75, 1.5, 1.5, 1.25]])
    eng = engine(2)
    alone = eng.nearest(pieces, packed, eng.empty_found(1, 4, packed))
    assert alone.cells[0, :, 0, :2, :2].tolist() == [[[6, 6], [6, 6]], [[8, 8], [8, 8]]]
    found = eng.empty_found(1, 4, packed)
    answer = eng.nearest(pieces_of([slots[2]], [[[2, 2], [2, 2]]]), packed, found)   # its test fingerprint
    found.score[0, 0], found.fp[0, 0] = 0.0, answer.fp[0, 0]
    guesses = eng.nearest(pieces, packed, found)
    assert guesses.cells[0, :, 0, :2, :2].tolist() == [[[6, 6], [6, 6]], [[7, 7], [7, 7]]]


def test_every_answer_order_puts_guesses_after_verified_answers():
    grids = [[[1]], [[2]], [[3]]]
    answers = TaskAnswers("t", [grids], [["a", "b | c", "d"]], [[NEAREST, "beam", "compose"]], 0, [[1, 2, 3]],
                          [[3, 1, 1]])
    for order in ("found", "views", "steps", "views_steps"):
        assert ranked(answers, order, 3).rails == [["beam", "compose", NEAREST]]


def test_a_guess_casts_no_vote_and_a_view_verifying_a_guess_takes_its_place():
    task = TaskAnswers("t", [[[[1]], [[2]]]], [["g", "p"]], [[NEAREST, "beam"]], 5, [[1, 1]], [[1, 1]])
    view = TaskAnswers("t", [[[[2]], [[1]]]], [["h", "q | r"]], [[NEAREST, "beam"]], 5, [[1, 2]], [[1, 1]])
    both = with_view(task, view, [lambda g: g], "colours")
    assert both.grids == [[[[2]], [[1]]]]            # [[1]] verified by the view: after the task's own answers
    assert both.views == [[1, 1]]                    # the view's guess of [[2]] adds no vote
    assert both.rails == [["beam", "beam"]] and both.programs[0] == ["p", "q | r @colours"]
    assert both.steps == [[1, 2]]


def test_guesses_read_nothing_on_the_host_and_repeat_themselves():
    task, _ = layered_task()
    eng, packed = engine(2, pieces=8), pack([task], 8)
    with HostReadGuard("error") as guard:
        first = eng(packed)
    assert guard.seen == []
    again = eng(packed)
    assert torch.equal(first.score, again.score) and torch.equal(first.cells, again.cells)
    assert first.rail[0, 0] == ENGINE_RAILS.index("compose")     # the composition (verified) first
    assert first.rail[0, 1] == ENGINE_RAILS.index(NEAREST) and bool(first.rail_solved[0, -1])


def test_rank_answers_reads_the_run_with_and_without_its_guesses():
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from rank_answers import right_within
    rec = {"task_id": "t", "kept": [["a", "g"], ["b"]], "right_at": [1, 0], "kept_steps": [[1, 1], [1]],
           "kept_views": [[1, 1], [1]], "kept_rails": [["beam", NEAREST], ["beam"]]}
    assert right_within(rec, "views_steps") == [True, True]           # the guess is the second attempt
    assert right_within(rec, "views_steps", verified=True) == [False, True]
    assert right_within(rec, "found", attempts=1) == [False, True]
