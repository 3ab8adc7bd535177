"""EBRGate: the EBR gating policy per phase, and how often EBR ran and changed the answer.

Training: ``never`` for the first ``warmup_epochs`` epochs (the energy net is untrained), then ``train``.
Validation, test and predict: ``eval``. Predictions after a task's TTT: ``ttt`` (``None``: the eval gate); the
evaluator reads it from ``prediction_settings()`` at test start (the adaptation steps themselves always run with
``never``: the TTT loss reads the painter's logits). It shapes predictions, so those settings enter the run's
fingerprint and report; a run without this callback evaluates under the model's own gate, and says so.
Counts accumulate on the device, never read per batch: from the step outputs in training/validation; in test,
from every evaluation output, through ``pl_module.eval_listeners`` (it sees CUDA-graph replays too, which no
module hook does; TTT steps are not evaluation forwards). Logged at epoch end as ``ebr/<phase>/applied_rate``
(items refined / items) and ``ebr/<phase>/changed_rate`` (items whose answer EBR changed / items).
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
from lightning.pytorch import Callback
from torch import Tensor

from topas_lit.modules.ebr import GATES

PHASES = ("train", "val", "test")


class EBRGate(Callback):
    prediction_key = "ebr_gate"

    def __init__(self, train: str = "entropy", eval: str = "entropy", ttt: str | None = "never",
                 warmup_epochs: int = 1):
        for name, gate in (("train", train), ("eval", eval), ("ttt", ttt)):
            if gate is not None and gate not in GATES:
                raise ValueError(f"callbacks.ebr_gate.{name} must be one of {GATES}, got {gate!r}")
        if warmup_epochs < 0:
            raise ValueError(f"callbacks.ebr_gate.warmup_epochs must be >= 0, got {warmup_epochs}")
        self.train_gate, self.eval_gate, self.ttt_gate, self.warmup_epochs = train, eval, ttt, warmup_epochs
        self._counts: dict[str, Tensor] = {}     # phase -> [applied, changed, items] on the device
        self.history: dict[str, list[tuple[int, int, int]]] = {p: [] for p in PHASES}   # epoch-end totals
        self._saved: str | None = None

    def prediction_settings(self) -> dict:
        """The gates of evaluation predictions: ``eval`` and ``ttt`` (after a task's TTT)."""
        return {"eval": self.eval_gate, "ttt": self.ttt_gate or self.eval_gate}

    def gate_for_epoch(self, epoch: int) -> str:
        return "never" if epoch < self.warmup_epochs else self.train_gate

    # ---- counting (device only) ---------------------------------------------------------------------------
    def _reset(self, phase: str, device) -> None:
        self._counts[phase] = torch.zeros(3, dtype=torch.long, device=device)

    def count(self, phase: str, applied: Tensor, changed: Tensor) -> None:
        acc = self._counts.get(phase)
        if acc is None:
            acc = self._counts[phase] = torch.zeros(3, dtype=torch.long, device=applied.device)
        acc[:2].add_(torch.stack([applied.sum(), changed.sum()]))
        acc[2].add_(applied.shape[0])                      # items: a host int from the shape

    def _count_outputs(self, phase: str, outputs) -> None:
        if isinstance(outputs, Mapping) and "ebr_applied" in outputs:
            self.count(phase, outputs["ebr_applied"], outputs["ebr_changed"])

    def _count_extras(self, output) -> None:
        ex = getattr(output, "extras", None)
        if ex is not None and "ebr_applied" in ex:
            self.count("test", ex["ebr_applied"], ex["ebr_changed"])

    def _log(self, trainer, pl_module, phase: str) -> None:
        acc = self._counts.pop(phase, None)
        if acc is None:
            return
        total = trainer.strategy.reduce(acc, reduce_op="sum")     # every rank has the counter: reset at start
        applied, changed, items = (int(v) for v in total.tolist())
        if items == 0:
            return
        self.history[phase].append((applied, changed, items))
        pl_module.log(f"ebr/{phase}/applied_rate", applied / items)
        pl_module.log(f"ebr/{phase}/changed_rate", changed / items)

    # ---- fit ----------------------------------------------------------------------------------------------
    def on_train_epoch_start(self, trainer, pl_module) -> None:
        pl_module.model.ebr.set_gate(self.gate_for_epoch(trainer.current_epoch))
        self._reset("train", pl_module.device)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._count_outputs("train", outputs)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._log(trainer, pl_module, "train")

    def on_validation_start(self, trainer, pl_module) -> None:
        pl_module.model.ebr.set_gate(self.eval_gate)
        if not trainer.sanity_checking:
            self._reset("val", pl_module.device)

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if not trainer.sanity_checking:
            self._count_outputs("val", outputs)

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self._log(trainer, pl_module, "val")

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.state.fn == "fit":
            pl_module.model.ebr.set_gate(self.gate_for_epoch(trainer.current_epoch))

    # ---- evaluation ---------------------------------------------------------------------------------------
    def on_test_start(self, trainer, pl_module) -> None:
        self._saved = pl_module.model.ebr.gate
        pl_module.model.ebr.set_gate(self.eval_gate)
        self._reset("test", pl_module.device)
        pl_module.eval_listeners.append(self._count_extras)

    def on_test_epoch_end(self, trainer, pl_module) -> None:
        self._log(trainer, pl_module, "test")

    def on_test_end(self, trainer, pl_module) -> None:
        if self._count_extras in pl_module.eval_listeners:
            pl_module.eval_listeners.remove(self._count_extras)
        if self._saved is not None:
            pl_module.model.ebr.set_gate(self._saved)
            self._saved = None

    def on_predict_start(self, trainer, pl_module) -> None:
        pl_module.model.ebr.set_gate(self.eval_gate)

