"""Safe loading: a checkpoint that carries pickled code is refused (``ckpt_path=...``, the automatic resume from
``last.ckpt``, and Lightning's own loader as we call it) and the code never runs; everything a run writes loads as
plain tensors (``weights_only=True``) or JSON; no secret from the environment lands in the run folder."""
import json
import os
import pickle
import subprocess
import sys

import pytest
import torch
from hydra.utils import instantiate
from lightning.pytorch import seed_everything

from conftest import ROOT, compose_cfg
from topas_lit.checkpoint import load_weights, read_checkpoint
from topas_lit.run import build_module, build_trainer, run

SECRET = "secret-xyz"


class Payload:
    """Unpickling this calls os.system: it would create ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def malicious_checkpoint(path, marker, like=None):
    """A checkpoint (optionally a copy of a real one, ``like``) with a code-running object inside."""
    ckpt = dict(like) if like is not None else {"state_dict": {}}
    ckpt["hyper_parameters"] = {"note": Payload(marker)}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, path)
    return path


def test_the_payload_is_live_when_unpickled_unsafely(tmp_path):
    """The control: the same file loaded with weights_only=False does run the code (so refusals below mean it)."""
    marker = tmp_path / "ran"
    path = malicious_checkpoint(tmp_path / "evil.ckpt", marker)
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_load_weights_refuses_a_checkpoint_with_code(tmp_path, tiny_cfg):
    marker = tmp_path / "ran"
    path = malicious_checkpoint(tmp_path / "evil.ckpt", marker)
    module = build_module(tiny_cfg)
    with pytest.raises(ValueError, match="refusing to load .*evil.ckpt"):
        load_weights(module, str(path))
    with pytest.raises(ValueError, match="not a plain-tensor checkpoint"):
        read_checkpoint(str(path))
    assert not marker.exists()


def test_resume_refuses_a_last_ckpt_with_code_and_lightning_refuses_it_too(tmp_path):
    """run() checks last.ckpt before resuming from it; and Lightning's loader, called as run() calls it
    (weights_only=True), refuses the file by itself as well."""
    marker = tmp_path / "ran"
    overrides = ["data.train.limit=8", "data.batch_size=2", "+trainer.limit_train_batches=1",
                 "+trainer.limit_val_batches=0", "trainer.max_epochs=1", "logger=csv", "test=false",
                 "~callbacks.progress", "+trainer.enable_progress_bar=false"]
    cfg = compose_cfg(overrides)
    cfg.out_dir = str(tmp_path / "run")
    # a real checkpoint of this config, with a payload added: same keys Lightning expects
    seed_everything(0)
    dm, module = instantiate(cfg.data), build_module(cfg)
    trainer = build_trainer(cfg)
    trainer.fit(module, dm)
    real = read_checkpoint(str(tmp_path / "run" / "checkpoints" / "last.ckpt"))
    evil = malicious_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt", marker, like=real)
    with pytest.raises(ValueError, match="refusing to load .*last.ckpt"):
        run(cfg)
    dm, module = instantiate(cfg.data), build_module(cfg)
    with pytest.raises(pickle.UnpicklingError):
        build_trainer(cfg).fit(module, dm, ckpt_path=str(evil), weights_only=True)
    assert not marker.exists()


def plain(obj) -> bool:
    if isinstance(obj, dict):
        return all(isinstance(k, (str, int)) and plain(v) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return all(plain(v) for v in obj)
    return obj is None or isinstance(obj, (str, int, float, bool, torch.Tensor))


@pytest.mark.slow
def test_run_outputs_load_as_plain_data_and_hold_no_secret(tmp_path):
    """A short `python train.py logger=wandb` (offline) with WANDB_API_KEY set: the checkpoint, dream-token files,
    result records, submission and report load with weights_only=True / json, and the key is in no file."""
    env = dict(os.environ, WANDB_API_KEY=SECRET, WANDB_MODE="offline", WANDB_SILENT="true",
               WANDB_DIR=str(tmp_path), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "train.py", "logger=wandb", "data.train.limit=20", "data.batch_size=2",
           "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=1", "trainer.max_epochs=1",
           "data.test.limit=2", "rail.depth=1", "module.eval.n_augment=1", "model.ebr.steps=1",
           "~callbacks.progress", f"hydra.run.dir={tmp_path}"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert SECRET not in proc.stdout + proc.stderr

    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert plain(ckpt["hyper_parameters"]) and isinstance(ckpt["hyper_parameters"]["model"], dict)
    assert ckpt["ARCDataModule"]["train_sampler"]["consumed"] >= 0
    assert any(k.startswith("DreamTokenBuffer") for k in ckpt["callbacks"])
    parts = sorted((tmp_path / "dream_tokens").glob("*.pt"))
    assert parts and all(torch.load(p, weights_only=True)["tokens"].ndim == 2 for p in parts)
    records = [json.loads(l) for l in (tmp_path / "eval" / "tasks.rank0.jsonl").read_text().splitlines()]
    assert len(records) == 2
    assert len(json.loads((tmp_path / "submission.json").read_text())) == 2
    assert json.loads((tmp_path / "report.json").read_text())["tasks"] == 2
    assert [json.loads(l) for l in (tmp_path / "results.jsonl").read_text().splitlines()]

    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(".hydra" in p.parts for p in files) and any("wandb" in p.parts for p in files)
    leaks = [str(p) for p in files if SECRET.encode() in p.read_bytes()]
    assert leaks == []
