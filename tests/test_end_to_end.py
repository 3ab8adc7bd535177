"""The main job end to end in a subprocess, as a user runs it: train a few steps, evaluate, report."""
import json
import subprocess
import sys

import pytest

from conftest import ROOT

# evaluation tasks 16-17 of ARC-AGI-1 evaluation: two the depth-1 search solves with a verified program
# (0c786b71: mirror_tile_fit, 0c9aba6e: split_ud_nor_fit), so the run's score is known
SOLVED_BY_RAILS = ["0c786b71", "0c9aba6e"]
FAST = ["trainer.max_epochs=1", "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=1",
        "data.train.limit=40", "data.test.limit=2", "rail.depth=1", "module.eval.n_augment=2",
        "callbacks.sync_guard.mode=error"]   # the guard raises on any host read inside the forward


def run_main(tmp_path, *overrides):
    cmd = [sys.executable, "train.py", *FAST, *overrides, f"hydra.run.dir={tmp_path}"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
def test_train_eval_writes_submission_and_report(tmp_path):
    out = run_main(tmp_path, "logger=csv", "data.test.start=16")
    assert "pass@2 per test input" in out and "pass@2 per task" in out
    report = json.loads((tmp_path / "report.json").read_text())
    sub = json.loads((tmp_path / "submission.json").read_text())
    assert report["tasks"] == 2 and sorted(sub) == SOLVED_BY_RAILS and report["ranks"] == {"0": 2}
    # what the run solves: both tasks, by the rails' verified programs, which are right on the test inputs
    assert (report["tasks_solved"], report["test_inputs_solved"]) == (2, 2)
    assert report["sources"]["rails"]["tasks_solved"] == 2
    assert sum(report["rail_counts"].values()) == 2 and set(report["rail_counts"]) <= {"one_glance", "policy", "beam"}
    assert "1.000 (2/2)" in out
    for attempts in sub.values():
        for a in attempts:
            assert set(a) == {"attempt_1", "attempt_2"} and all(isinstance(r, list) for r in a["attempt_1"])
    assert (tmp_path / "results.jsonl").exists() and (tmp_path / "checkpoints" / "last.ckpt").exists()
    records = [json.loads(l) for l in (tmp_path / "results.jsonl").read_text().splitlines()]
    for r in records:                                  # graded accuracy: 1 exactly when solved, else in [0, 1)
        assert all((acc == 1.0) == ok and 0.0 <= acc <= 1.0 for ok, acc in zip(r["correct"], r["cell_accuracy"]))
    assert all(r["answered_by"] == ["rails"] and r["verified"] == [True] and r["correct"] == [True] for r in records)
    assert {r["task_id"]: r["programs"] for r in records} == {"0c786b71": ["mirror_tile_fit"],
                                                             "0c9aba6e": ["split_ud_nor_fit"]}
    accs = [a for r in records for a in r["cell_accuracy"]]
    assert report["cell_accuracy_per_test_input"] == sum(accs) / len(accs) and "cell accuracy" in out
    assert "Starting weights" in out
    html = (tmp_path / "report.html").read_text()
    assert all(t in html for t in SOLVED_BY_RAILS) and html.count('class="task solved"') == 2


@pytest.mark.slow
def test_ttt_experiment_runs_and_says_what_it_did(tmp_path):
    out = run_main(tmp_path, "+experiment=slot_ttt", "logger=csv", "module.ttt.steps=2", "module.ttt.batch_size=2")
    records = [json.loads(l) for l in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert all(r["ttt"]["steps"] == 2 or r["ttt"]["skipped"] == "verified" for r in records)
    adapted = [r for r in records if r["ttt"]["steps"] == 2]
    assert adapted and all(set(r["answered_by"]) <= {"ttt", "rails"} for r in adapted)   # TTT replaced the network
    assert "ttt alone" in out
    assert "pass@2" in out
