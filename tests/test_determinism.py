"""Determinism: with a fixed seed and trainer.deterministic=true (the default), two runs of training for a few
steps and then evaluation with TTT give identical weights, dream tokens, predictions, rails, submission and report
(wall-time fields aside). trainer.deterministic=false is the documented switch that trades this for speed."""
import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, compose_cfg

RUN = ["logger=csv", "data.train.limit=20", "data.batch_size=2", "+trainer.limit_train_batches=3",
       "+trainer.limit_val_batches=1", "trainer.max_epochs=2", "callbacks.checkpoint.every_n_train_steps=2",
       "data.test.limit=3", "rail.depth=1", "rail.beam_width=2", "rail.policy_topk=2", "module.eval.n_augment=2",
       "model.ebr.steps=1", "+experiment=slot_ttt", "module.ttt.steps=2", "module.ttt.batch_size=2",
       "rail.ttt_when_verified=run", "~callbacks.progress", "+trainer.enable_progress_bar=false",
       "callbacks.sync_guard.mode=error"]


def train_py(run_dir, *overrides):
    cmd = [sys.executable, "train.py", *RUN, *overrides, f"hydra.run.dir={run_dir}"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


sys.path.insert(0, str(ROOT / "scripts"))
from check_determinism import drop_timing  # noqa: E402  (every field but wall times)


@pytest.mark.slow
def test_two_runs_with_the_same_seed_are_identical(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    train_py(a)
    train_py(b)
    ca = torch.load(a / "checkpoints" / "last.ckpt", weights_only=True)
    cb = torch.load(b / "checkpoints" / "last.ckpt", weights_only=True)
    assert ca["global_step"] == cb["global_step"] == 6
    assert ca["state_dict"].keys() == cb["state_dict"].keys()
    for k in ca["state_dict"]:                                         # bitwise, weights and buffers
        assert torch.equal(ca["state_dict"][k], cb["state_dict"][k]), k
    for sa, sb in zip(ca["optimizer_states"][0]["state"].values(), cb["optimizer_states"][0]["state"].values()):
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    dream_a, dream_b = sorted((a / "dream_tokens").glob("*.pt")), sorted((b / "dream_tokens").glob("*.pt"))
    assert [p.name for p in dream_a] == [p.name for p in dream_b] and dream_a
    for pa, pb in zip(dream_a, dream_b):
        assert torch.equal(torch.load(pa, weights_only=True)["tokens"], torch.load(pb, weights_only=True)["tokens"])
    # predictions, rails, programs, TTT figures: the per-task records
    rec = lambda d: [drop_timing(json.loads(l)) for l in (d / "results.jsonl").read_text().splitlines()]
    ra, rb = rec(a), rec(b)
    assert len(ra) == 3 and ra == rb
    assert any(r["ttt"]["steps"] == 2 for r in ra)                    # TTT ran, and ran the same
    assert (a / "submission.json").read_text() == (b / "submission.json").read_text()
    assert drop_timing(json.loads((a / "report.json").read_text())) == \
        drop_timing(json.loads((b / "report.json").read_text()))


def test_the_switch_is_in_the_config():
    """trainer.deterministic defaults to true on the CPU trainer (use_deterministic_algorithms, cudnn.benchmark
    off); the GPU trainer turns it off for speed."""
    from hydra.utils import instantiate

    cfg = compose_cfg()
    assert cfg.trainer.deterministic is True and cfg.trainer.benchmark is False
    before = torch.are_deterministic_algorithms_enabled()
    try:
        instantiate(cfg.trainer, logger=False, enable_progress_bar=False, accelerator="cpu")
        assert torch.are_deterministic_algorithms_enabled()
        instantiate(cfg.trainer, logger=False, enable_progress_bar=False, accelerator="cpu", deterministic=False)
        assert not torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(before)
    with open(ROOT / "conf" / "trainer" / "gpu.yaml") as f:
        assert "deterministic: false" in f.read()


def test_the_gpu_determinism_script_names_the_first_difference(tmp_path):
    """scripts/check_determinism.py's comparison (the GPU check's, see tests/gpu): equal runs pass, a changed
    prediction is named by task and field, wall times never count."""
    import check_determinism

    rec = {"task_id": "t1", "attempts": [[[[1]], [[2]]]], "seconds": 1.0, "ttt": {"steps": 2, "seconds": 0.5}}
    for name, seconds in (("run_a", 1.0), ("run_b", 7.0)):
        run = tmp_path / name
        run.mkdir()
        (run / "results.jsonl").write_text(json.dumps({**rec, "seconds": seconds}) + "\n")
        (run / "submission.json").write_text('{"t1": []}')
        (run / "report.json").write_text(json.dumps({"tasks": 1, "seconds_per_task": seconds}))
        (run / "report.html").write_text(f"<p>{run}</p>")
    assert set(check_determinism.compare(tmp_path / "run_a", tmp_path / "run_b").values()) == {None}
    changed = dict(rec, attempts=[[[[1]], [[3]]]])
    (tmp_path / "run_b" / "results.jsonl").write_text(json.dumps(changed) + "\n")
    diff = check_determinism.compare(tmp_path / "run_a", tmp_path / "run_b")["per-task records (results.jsonl)"]
    assert diff == "1 of 1 tasks differ; first: task t1 at attempts[0][1][0][0]"
    assert check_determinism.main(["--out", str(tmp_path), "--compare-only"]) == 1
