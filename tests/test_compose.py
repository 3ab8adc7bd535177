"""Greedy composition (topas_lit/search/compose.py): answers overlaid from several searched states, found only where
no single program fits, ranked after every program, deterministic and free of host reads, named in the records."""
import random

import torch

from topas_lit.callbacks.sync_guard import HostReadGuard
from topas_lit.data.tasks import Task
from topas_lit.search.compose import Pieces, compose
from topas_lit.search.engine import ENGINE_RAILS, SearchEngine
from topas_lit.search.hashing import count_cells
from topas_lit.search.pack import Packed, pack
from topas_lit.search.source import SearchSource
from topas_lit.search.targets import find_programs


def flip_lr(g):
    return [r[::-1] for r in g]


def overlay(*grids):
    """The first non-0 value of each cell."""
    return [[next((v for v in vals if v), 0) for vals in zip(*rows)] for rows in zip(*grids)]


def three_layers(g):
    """The input, then its left-right mirror where the input is 0, then its up-down mirror: no single primitive."""
    return overlay(g, flip_lr(g), g[::-1])


def layered_task() -> tuple[Task, list]:
    rng = random.Random(0)
    grids = [[[rng.choice([0, 0, 0, 1, 2, 3]) for _ in range(w)] for _ in range(h)]
             for h, w in ((5, 6), (6, 5), (6, 6), (5, 5))]
    task = Task("layers", tuple((g, three_layers(g)) for g in grids[:3]), (grids[3],), "synthetic")
    return task, three_layers(grids[3])


def engine(pieces: int) -> SearchEngine:
    return SearchEngine(depth=1, beam_width=4, policy_topk=2, order=("beam",), compose_pieces=pieces)


def test_a_composition_answers_what_no_single_program_fits():
    task, truth = layered_task()
    alone = SearchSource(engine(0), canvases=(8,)).search([task])[0]
    assert alone.grids == [[]]                                    # depth 1: no program reproduces the demos
    found = SearchSource(engine(16), canvases=(8,)).search([task])[0]
    assert found.grids[0][0] == truth
    assert found.rails[0][0] == "compose"
    assert found.programs[0][0] == "compose(symmetrize_lr ; symmetrize_ud)"
    assert find_programs([task], {task.id: [truth]}, SearchSource(engine(16), canvases=(8,))) == \
        {task.id: {"program": None}}                              # a composition is no program target


def test_composition_reads_nothing_on_the_host_and_repeats_itself():
    task, _ = layered_task()
    eng, packed = engine(16), pack([task], 8)
    with HostReadGuard("error") as guard:
        first = eng(packed)
    assert guard.seen == []
    again = eng(packed)
    for a, b in zip((first.score, first.parts, first.n_parts, first.rail, first.cells),
                    (again.score, again.parts, again.n_parts, again.rail, again.cells)):
        assert torch.equal(a, b)
    assert first.rail_solved.shape == (1, len(ENGINE_RAILS)) and bool(
        first.rail_solved[0, ENGINE_RAILS.index("compose")])
    assert int(first.n_parts[0, 0]) == 2


def test_a_verified_program_outranks_a_composition():
    grids = [[[1, 2, 0], [0, 3, 0]], [[4, 0], [5, 6], [0, 7]], [[8, 8, 1, 0], [0, 2, 0, 0], [3, 0, 0, 9]],
             [[2, 0, 0], [0, 0, 5], [1, 1, 0]]]
    task = Task("flip", tuple((g, flip_lr(g)) for g in grids[:3]), (grids[3],), "synthetic")
    found = SearchSource(engine(16), canvases=(8,)).search([task])[0]
    assert found.rails[0][0] == "beam" and found.grids[0][0] == flip_lr(grids[3])


def packed_one(target, test_in, s=4) -> Packed:
    """One task: one demo (output ``target``) and one test input, on an s x s canvas."""
    cells = torch.full((1, 2, s, s), 10, dtype=torch.uint8)
    tgt = torch.full((1, 2, s, s), 10, dtype=torch.uint8)
    h, w = len(target), len(target[0])
    cells[0, 0, :h, :w] = 0
    tgt[0, 0, :h, :w] = torch.tensor(target, dtype=torch.uint8)
    cells[0, 1, :h, :w] = torch.tensor(test_in, dtype=torch.uint8)
    size = torch.tensor([[[h, w], [h, w]]])
    return Packed(cells, size, tgt, torch.tensor([[[h, w], [1, 1]]]), torch.tensor([[True, False]]),
                  torch.tensor([[True, True]]), 1, 1)


def pieces_of(grids_per_piece, sizes, s=4) -> Pieces:
    """Pieces from per-piece (demo grid, test grid) pairs."""
    p = len(grids_per_piece)
    cells = torch.full((1, p, 2, s, s), 10, dtype=torch.uint8)
    for i, slots in enumerate(grids_per_piece):
        for k, g in enumerate(slots):
            cells[0, i, k, :len(g), :len(g[0])] = torch.tensor(g, dtype=torch.uint8)
    program = torch.arange(1, p + 1).view(1, p, 1)
    return Pieces(torch.zeros(1, p), torch.arange(p).view(1, p), cells, torch.tensor([sizes]), program)


def test_greedy_overlay_takes_the_cleanest_biggest_write_first_and_needs_full_cover():
    target = [[1, 1], [2, 0]]
    a = ([[1, 1], [0, 0]], [[3, 0], [0, 3]])          # right on its non-0 cells
    b = ([[5, 5], [2, 0]], [[4, 4], [4, 4]])          # right only where a does not write
    packed = packed_one(target, [[0, 0], [0, 0]])
    ok, used, cells, size, parts = compose(pieces_of([a, b], [[[2, 2], [2, 2]]] * 2), packed, steps=3)
    assert bool(ok[0]) and int(used[0]) == 2
    assert cells[0, 0, :2, :2].tolist() == [[3, 4], [4, 3]] and size[0, 0].tolist() == [2, 2]
    assert parts[0, :, 0].tolist() == [1, 2, 0]       # a first (its non-0 cells), then b (all its cells)
    c = ([[5, 5], [2, 7]], [[4, 4], [4, 4]])          # wrong on a cell nobody else writes: no full cover
    ok, *_ = compose(pieces_of([a, c], [[[2, 2], [2, 2]]] * 2), packed, steps=3)
    assert not bool(ok[0])
    ok, *_ = compose(pieces_of([a, b], [[[2, 2], [2, 2]], [[2, 2], [1, 1]]]), packed, steps=3)
    assert not bool(ok[0])                            # test-slot sizes disagree: never overlaid


def test_count_cells_counts_like_a_bool_sum():
    x = torch.rand(3, 5, 30, 30) > 0.3
    x[0, 0] = True
    assert torch.equal(count_cells(x), x.flatten(-2).sum(-1))


def test_telemetry_counts_compose_answers_as_their_own_rail():
    from topas_lit.callbacks.rail_telemetry import RailTelemetry
    from topas_lit.modules.dsl.search import ANSWER_RAILS
    tele = RailTelemetry()
    tele.update_records([{"task_id": "c", "rails": ["compose", "beam"], "programs": ["compose(a ; b)", "b"],
                          "correct": [True, False]}], "cpu")
    answered = tele.metrics["test"].answered.tolist()
    assert answered[ANSWER_RAILS.index("compose")] == 1 and answered[ANSWER_RAILS.index("beam")] == 1
    assert tele.metrics["test"].correct.tolist()[ANSWER_RAILS.index("compose")] == 1
