"""The main job: build data, module, trainer, callbacks and loggers from the Hydra config; train; evaluate."""
from __future__ import annotations

import inspect
import logging
from pathlib import Path

import torch
from hydra.utils import get_class, instantiate
from lightning.pytorch import LightningModule, Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from topas_lit.checkpoint import load_weights, read_checkpoint
from topas_lit.eval.evaluator import Evaluator
from topas_lit.errors import ConfigError

log = logging.getLogger(__name__)


EVALUATOR_KEYS = ("eval", "ttt")     # under module: in the config (public commands), read by the evaluator


def build_module(cfg: DictConfig, dm=None) -> LightningModule:
    """The LightningModule from ``cfg.module``, with the evaluator of ``cfg`` attached (its test steps use it).
    A module with one embedding row per task (the sequence solver) gets the task ids: the checkpoint's when
    ``ckpt_path`` is set, else the data module's composition (``dm``, set up here)."""
    kwargs = OmegaConf.to_container(cfg.module, resolve=True)
    cls = get_class(kwargs.pop("_target_"))
    for key in EVALUATOR_KEYS:
        kwargs.pop(key, None)
    if "task_ids" in inspect.signature(cls).parameters:
        kwargs["task_ids"] = run_task_ids(cfg, dm)
    module = cls(**kwargs)
    module.evaluator = Evaluator.from_config(cfg)
    return module


def run_task_ids(cfg: DictConfig, dm) -> list[str]:
    if cfg.get("ckpt_path"):
        hparams = read_checkpoint(cfg.ckpt_path).get("hyper_parameters") or {}
        if "task_ids" not in hparams:
            raise ConfigError(f"ckpt_path {cfg.ckpt_path} holds no task ids: it is not a sequence-solver checkpoint")
        return list(hparams["task_ids"])
    if dm is None:
        dm = instantiate(cfg.data)
    dm.setup("fit")
    return dm.task_ids


def build_trainer(cfg: DictConfig) -> Trainer:
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values() if c is not None]
    return instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)


def run(cfg: DictConfig) -> dict | None:
    seed_everything(cfg.seed, workers=True)
    torch.set_float32_matmul_precision(cfg.matmul_precision)
    if cfg.get("torch_threads"):
        torch.set_num_threads(cfg.torch_threads)
    out_dir = Path(cfg.out_dir)
    dm = instantiate(cfg.data)
    trainer = build_trainer(cfg)
    dm.trainer = trainer      # as trainer.fit does; the setup below searches for program targets on its device
    if cfg.fit and not cfg.ckpt_path:
        dm.setup("fit")       # loads the data; the contamination guard stops an overlapping run before any work
    module = build_module(cfg, dm)
    say = Console().print if trainer.is_global_zero else (lambda *a, **k: None)
    if cfg.test:
        module.evaluator.check_config()   # records of other settings in <run>/eval: stop before any work
    if cfg.ckpt_path:
        load_weights(module, cfg.ckpt_path)
        say(f"[bold]Starting weights[/]: checkpoint {cfg.ckpt_path} (no pretraining)")
    elif cfg.fit:
        last = out_dir / "checkpoints" / "last.ckpt"
        resume = str(last) if last.exists() else None
        if resume:
            read_checkpoint(resume)     # refuses a file that is not plain tensors/containers, naming it
        say(f"[bold]Starting weights[/]: pretraining on {dm.train_cfg['version'] if 'version' in dm.train_cfg else dm.train_cfg['source']} "
            f"{dm.train_cfg.get('split', '')}" + (f", resuming from {resume}" if resume else ""))
        trainer.fit(module, dm, ckpt_path=resume, weights_only=True)
        save_final(trainer)
    else:
        say("[bold]Starting weights[/]: random initialisation (fit=false, no ckpt_path)")
    if not cfg.test:
        return None
    trainer.test(module, dm, verbose=False)       # the figures are printed below, rounded
    if not trainer.is_global_zero:
        return None
    report = module.evaluator.report
    print_report(report, out_dir)
    return report


def save_final(trainer: Trainer) -> None:
    """Write ``last.ckpt`` at the end of training too (step-interval checkpoints may stop short of it), so a run
    resumed after training finished goes straight to evaluation."""
    ckpt = trainer.checkpoint_callback
    if isinstance(ckpt, ModelCheckpoint) and ckpt.save_last and ckpt.dirpath and not trainer.interrupted:
        trainer.save_checkpoint(str(Path(ckpt.dirpath) / f"{ckpt.CHECKPOINT_NAME_LAST}{ckpt.FILE_EXTENSION}"),
                                weights_only=False)    # full state (optimizer, loops): a resume continues


def print_report(report: dict, out_dir: Path) -> None:
    con = Console()
    table = Table(title="Evaluation (exact match, 2 attempts)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("pass@2 per test input", fraction(report["test_inputs_solved"], report["test_inputs"]))
    table.add_row("pass@2 per task", fraction(report["tasks_solved"], report["tasks"]))
    if report.get("cell_accuracy_per_test_input") is not None:
        table.add_row("cell accuracy (best of 2, 0 if wrong size)", f"{report['cell_accuracy_per_test_input']:.3f}")
    for name, s in report.get("sources", {}).items():
        table.add_row(f"{name} alone: pass@2 per test input / per task", source_figures(s))
    for rail, n in report["rail_counts"].items():
        table.add_row(f"answered by {rail}", str(n))
    if report["rejected_tasks"]:
        table.add_row("rejected tasks", str(len(report["rejected_tasks"])))
    if report["tasks_failed"]:
        table.add_row("failed tasks", str(len(report["tasks_failed"])))
    con.print(table)
    for key, settings in report.get("prediction_callbacks", {}).items():
        con.print(f"prediction-shaping callback {key}: {settings}", highlight=False, soft_wrap=True)
    con.print(f"outputs: {out_dir}/submission.json, {out_dir}/report.json, {out_dir}/results.jsonl, "
              f"{out_dir}/report.html", soft_wrap=True)


def fraction(solved: int, total: int) -> str:
    return f"{solved / total:.3f} ({solved}/{total})" if total else "- (0 scored)"


def source_figures(s: dict) -> str:
    """One source's own pass@2, or why it answered nothing (e.g. TTT disabled)."""
    if s["tasks_answered"] == 0 and s["tasks_skipped"]:
        return "not run (" + ", ".join(f"{why}: {n} tasks" for why, n in s["tasks_skipped"].items()) + ")"
    return f"{fraction(s['test_inputs_solved'], s['test_inputs'])} / {fraction(s['tasks_solved'], s['tasks'])}"
