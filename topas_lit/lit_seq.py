"""SeqLitModule: the sequence solver's LightningModule: the loss, the training step, the optimizer and schedule.

The loss is next-token cross-entropy on the output part of each pair (its cells, newlines and END); the input
part conditions and is not scored. Training is budgeted in steps (``trainer.max_epochs``/``max_steps``) or in
minutes of training (``module.optim.budget_minutes``, with ``trainer.max_epochs: -1``): the learning-rate schedule
follows that progress, and a budgeted run stops when its minutes are spent. Evaluation is the evaluator's (``topas_lit.eval``); this module only owns the model.
"""
from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from lightning.pytorch import LightningModule
from torchmetrics import MeanMetric

from topas_lit.eval.hooks import EvaluatorHooks
from topas_lit.optim import build_optimizer, wsd


class SeqLitModule(EvaluatorHooks, LightningModule):
    def __init__(self, model: dict, optim: dict, task_ids: list[str], seed: int = 0):
        """``task_ids``: the run's tasks in embedding-row order (row 0 is the unknown task); saved in checkpoints
        so that a checkpoint evaluates later with the same rows."""
        super().__init__()
        self.save_hyperparameters()
        self.task_ids = list(task_ids)
        self.task_rows = {tid: r + 1 for r, tid in enumerate(self.task_ids)}
        self.model = instantiate(model, n_tasks=len(self.task_ids) + 1, _convert_="all")
        self.optim_cfg, self.seed = dict(optim), seed
        self.train_loss = MeanMetric(nan_strategy="disable")
        self.train_loss.persistent(True)
        # the training forward, compiled or not (kept out of the module tree: its weights are the model's)
        self.__dict__["train_forward"] = (torch.compile(self.model, dynamic=True)
                                          if self.model.compile_mode == "default" else self.model)
        self.train_seconds = 0.0          # training time so far (restored on resume): the time budget's clock
        self._clock: float | None = None

    def infer(self, *args, **kwargs):
        """The evaluation forward (the evaluator's context names it; decoding calls the model's own methods)."""
        return self.model(*args, **kwargs)

    def loss(self, batch: dict, forward=None) -> torch.Tensor:
        logits = (self.model if forward is None else forward)(
            batch["tokens"], batch["positions"], batch["task"], batch["dihedral"], batch.get("colours"),
            batch.get("inp"), batch.get("in_size"))
        return F.cross_entropy(logits.flatten(0, 1), batch["targets"].flatten(), ignore_index=-100)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self.loss(batch, self.train_forward)
        self.train_loss.update(loss)
        return loss

    def on_train_epoch_end(self) -> None:
        self.log("train/loss", self.train_loss.compute(), prog_bar=True)
        self.train_loss.reset()

    # ---- schedule -----------------------------------------------------------------------------------------
    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        now = time.monotonic()
        if self._clock is not None:
            self.train_seconds += now - self._clock
        self._clock = now

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        """A time-budgeted run stops once its budget is spent: every rank stops at the same step (the decision is
        shared every ``budget_check_every`` steps, one collective each)."""
        minutes = self.optim_cfg.get("budget_minutes")
        every = self.optim_cfg.get("budget_check_every", 10)
        if minutes and (self.global_step % every == 0):
            spent = self.train_seconds >= 60.0 * minutes
            if self.trainer.strategy.reduce_boolean_decision(spent, all=False):
                self.trainer.should_stop = True

    def on_train_end(self) -> None:
        self._clock = None

    def progress(self, step: int) -> float:
        """Training progress in [0, 1]: time over the budget when budgeted in minutes, else steps over planned."""
        minutes = self.optim_cfg.get("budget_minutes")
        if minutes:
            return self.train_seconds / (60.0 * minutes)
        total = self.trainer.estimated_stepping_batches
        return step / max(1, total)

    def configure_optimizers(self):
        cfg = self.optim_cfg
        opt = build_optimizer(self.model, cfg)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: wsd(self.progress(step), cfg["warmup"], cfg["decay_start"], cfg["floor"]))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["train_seconds"] = self.train_seconds

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.train_seconds = float(checkpoint.get("train_seconds", 0.0))
