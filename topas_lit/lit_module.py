"""TopasLitModule: the model, its losses, the training/validation steps and optimizers. Evaluation (candidate
sources, TTT, voting, scoring, records, resume) is the evaluator's (``topas_lit/eval``): ``test_step`` hands it the
batch's tasks."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from lightning.pytorch import LightningModule
from torch import Tensor
from torchmetrics import MeanMetric

from topas_lit.capture import inference_forward
from topas_lit.eval.hooks import EvaluatorHooks
from topas_lit.modules.dsl.grid import N_COLOURS, PAD, S, inside
from topas_lit.modules.topas import TopasModel, TopasOutput

LOSS_TERMS = ("painter", "size", "policy", "strategy", "ebr")
NONFINITE_POLICIES = ("error", "skip")


class NonFiniteLossError(RuntimeError):
    """Training met a NaN/inf loss or gradient under ``module.nonfinite=error``."""


def metric(persistent: bool = False) -> MeanMetric:
    """Epoch-level mean without per-update host syncs; ``persistent``: its running sums go into checkpoints (a run
    resumed mid-epoch reports the same epoch mean as one that was never stopped)."""
    m = MeanMetric(nan_strategy="disable")
    m.persistent(persistent)
    return m


def stream_seed(*parts: int) -> int:
    """A 63-bit generator seed from a few ints (splitmix-style mixing; host arithmetic only)."""
    h = 0x9E3779B97F4A7C15
    for x in parts:
        h = ((h ^ (x & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 31
    return h >> 1


class TopasLitModule(EvaluatorHooks, LightningModule):
    def __init__(self, model: dict, optim: dict, loss: dict, rail: dict, seed: int = 0, nonfinite: str = "error",
                 nonfinite_check_every: int = 50, log_step_loss: bool = False):
        """``seed``: the training noise (EBR negatives) is drawn per (seed, step, rank), not from a global stream.
        ``nonfinite``: a step whose loss or gradients are NaN/inf never reaches the weights (its gradients are
        zeroed on the device); ``error`` then raises at the next check (every ``nonfinite_check_every`` steps and
        at epoch end: one host read each), naming the first bad step; ``skip`` counts it and goes on.
        ``log_step_loss``: also log ``train/loss_step`` (read on the host every ``trainer.log_every_n_steps``)."""
        super().__init__()
        self.save_hyperparameters()
        if nonfinite not in NONFINITE_POLICIES:
            raise ValueError(f"module.nonfinite must be one of {NONFINITE_POLICIES}, got {nonfinite!r}")
        if nonfinite_check_every < 1:
            raise ValueError(f"module.nonfinite_check_every must be >= 1, got {nonfinite_check_every}")
        self.seed, self.nonfinite, self.nonfinite_check_every = seed, nonfinite, nonfinite_check_every
        self.log_step_loss = log_step_loss
        self.model: TopasModel = instantiate(model, _convert_="all")
        self.optim_cfg, self.loss_w = dict(optim), dict(loss)
        unknown = set(self.loss_w) - set(LOSS_TERMS) - {"ebr_margin"}
        if unknown:
            raise ValueError(f"unknown loss term(s) {sorted(unknown)}; known: {LOSS_TERMS}")
        self.rails_in_training = bool(rail["in_training"])
        self.train_metrics = torch.nn.ModuleDict({k: metric(persistent=True) for k in ("loss",) + LOSS_TERMS})
        # non-finite steps: a device count, and the first bad global step (-1: none), both in checkpoints
        self.register_buffer("nonfinite_steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("first_nonfinite_step", torch.full((), -1, dtype=torch.long))
        self._step_finite: Tensor | None = None
        self.val_metrics = torch.nn.ModuleDict({k: metric() for k in ("loss", "exact", "pixel")})
        self._forward_fn = self.model.__call__  # evaluation forward: eager, CUDA-graphed or compiled
        self.eval_listeners: list = []          # callables given every evaluation output (e.g. EBRGate's counters)

    def forward(self, inputs: dict[str, Tensor], rails: bool = True) -> TopasOutput:
        return self.model(inputs, rails=rails)

    def infer(self, inputs: dict[str, Tensor], rails: bool = True) -> TopasOutput:
        """The evaluation forward (eager, CUDA-graph replay or compiled), reported to ``eval_listeners``."""
        out = self._forward_fn(inputs, rails=rails)
        for listener in self.eval_listeners:
            listener(out)
        return out

    # ---- losses -------------------------------------------------------------------------------------------
    def losses(self, out: TopasOutput, targets: dict[str, Tensor], gen: torch.Generator | None = None
               ) -> dict[str, Tensor]:
        """The weighted loss terms; ``gen`` draws the EBR negatives (default: one seeded by ``seed`` alone)."""
        ex = out.extras
        w = self.loss_w
        target = targets["test_out"]                                               # [B, 30, 30], PAD outside
        parts = {}
        parts["painter"] = F.cross_entropy(out.logits.reshape(-1, N_COLOURS), target.reshape(-1), ignore_index=PAD)
        parts["size"] = F.cross_entropy(ex["size_logits"].reshape(-1, S), (targets["test_out_size"] - 1).reshape(-1))
        # policy distillation: the op-bias-steered per-step distribution should propose the verified program
        steered = ex["policy_logits"] + ex["op_bias"][:, None, :]
        pol = F.cross_entropy(steered.transpose(1, 2), targets["program"], reduction="none").mean(1)
        pmask = targets["program_mask"].to(pol.dtype)
        parts["policy"] = (pol * pmask).sum() / pmask.sum().clamp(min=1.0)
        strat = F.cross_entropy(ex["strategy_logits"], targets["rail"], reduction="none")
        smask = targets["rail_mask"].to(strat.dtype)
        parts["strategy"] = (strat * smask).sum() / smask.sum().clamp(min=1.0)
        parts["ebr"] = self.ebr_loss(out, target, gen if gen is not None else self.generator(0, 0))
        total = sum(w.get(k, 0.0) * v for k, v in parts.items())
        return {"loss": total, **parts}

    def ebr_loss(self, out: TopasOutput, target: Tensor, gen: torch.Generator) -> Tensor:
        """Contrastive: E(true output) below E(the painter's own sample) and E(a corrupted true output)."""
        ex = out.extras
        ebr = self.model.ebr
        colours = torch.arange(N_COLOURS, device=target.device)
        pos = (target[..., None] == colours).to(out.logits.dtype)                 # one-hot, PAD rows all-zero
        own = out.logits.detach().softmax(-1) * inside(ex["painter_size"])[..., None]
        noise = torch.rand(target.shape, device=target.device, generator=gen) < 0.1
        shuffled = torch.randint_like(target, N_COLOURS, generator=gen)
        corrupt = torch.where(noise & (target != PAD), shuffled, target)
        neg = (corrupt[..., None] == colours).to(out.logits.dtype)
        feats, latent = ex["test_feats"], ex["latent"]
        e_pos = ebr.energy(feats, pos, latent)
        e_neg = torch.stack([ebr.energy(feats, own, latent), ebr.energy(feats, neg, latent)], 1)
        margin = self.loss_w.get("ebr_margin", 1.0)
        return F.softplus(e_pos[:, None] - e_neg + margin).mean()

    # ---- fit ----------------------------------------------------------------------------------------------
    def step_outputs(self, out: TopasOutput, targets: dict[str, Tensor]) -> dict[str, Tensor]:
        """Per-item tensors for the callbacks (rail telemetry, EBR gate stats, dream buffer), on the device.

        Dream tokens pair the task latent with the op distribution of the program that solved the task: the
        rails' verified program, else (rails off in training) the distillation target found by search.
        """
        ex = out.extras
        correct = (out.grid == targets["test_out"]).flatten(1).all(1)
        n_ops = self.model.search.n_ops
        latent = ex["latent"]
        program = torch.where(ex["solved"][:, None], ex["program"], targets["program"])
        valid = ex["solved"] | targets["program_mask"]
        ops = torch.arange(n_ops, device=program.device)
        count = ((program[..., None] == ops) & (program[..., None] > 0)).sum(1).to(latent.dtype)
        op_dist = count / count.sum(-1, keepdim=True).clamp(min=1.0)
        return {"rail": ex["rail"], "correct": correct, "ebr_applied": ex["ebr_applied"],
                "ebr_changed": ex["ebr_changed"], "dream_tokens": torch.cat([latent, op_dist], -1).detach(),
                "dream_valid": valid}

    def generator(self, stream: int, index: int) -> torch.Generator:
        """A generator on the module's device seeded by (seed, stream, index, rank): stream 0 training steps (index:
        global step), 1 validation batches. Nothing is drawn from the global RNG, so a resumed run draws the same."""
        return torch.Generator(device=self.device).manual_seed(stream_seed(self.seed, stream, index, self.global_rank))

    def training_step(self, batch: dict, batch_idx: int) -> dict:
        out = self.model(batch["inputs"], rails=self.rails_in_training)
        parts = self.losses(out, batch["targets"], self.generator(0, self.global_step))
        finite = torch.isfinite(parts["loss"])
        self._step_finite = finite                 # read (on the device) in on_before_optimizer_step
        weight = finite.to(parts["loss"].dtype)
        for k, v in parts.items():                 # a non-finite step adds nothing to the epoch means
            self.train_metrics[k].update(torch.where(finite, v, torch.zeros_like(v)), weight)
        if self.log_step_loss:
            self.log("train/loss_step", parts["loss"], on_step=True, on_epoch=False)
        return {"loss": parts["loss"], **self.step_outputs(out, batch["targets"])}

    def on_before_optimizer_step(self, optimizer) -> None:
        """Drop a non-finite step on the device: zero its gradients (NaN-safe) so neither the weights nor AdamW's
        moments see it, count it, remember the first bad step. No value is read on the host here."""
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        if not grads or self._step_finite is None:
            return
        ok = self._step_finite
        if getattr(self.trainer.precision_plugin, "scaler", None) is None:
            # gradients too (a finite loss can still give inf/NaN gradients; under DDP they are already averaged,
            # so every rank drops the same step); with 16-mixed the GradScaler skips overflowing steps itself
            ok = ok & torch.isfinite(torch.stack(torch._foreach_norm(grads)).sum())
        bad = ~ok
        for g in grads:
            g.masked_fill_(bad, 0.0)
        self.nonfinite_steps.add_(bad.to(self.nonfinite_steps.dtype))
        first = bad & (self.first_nonfinite_step < 0)
        self.first_nonfinite_step.copy_(torch.where(first, self.global_step, self.first_nonfinite_step))
        self._step_finite = None

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        if self.nonfinite == "error" and (self.global_step % self.nonfinite_check_every == 0):
            self.check_nonfinite()

    def check_nonfinite(self) -> None:
        """Raise if any step so far was non-finite (``module.nonfinite=error``): one host read."""
        count, first = int(self.nonfinite_steps), int(self.first_nonfinite_step)
        if count:
            raise NonFiniteLossError(
                f"non-finite loss or gradients in {count} training step(s), the first at global step {first} "
                f"(epoch {self.current_epoch}, checked at step {self.global_step}); those steps were dropped and the "
                f"weights are finite. Set module.nonfinite=skip to go on skipping such steps, or lower the learning "
                f"rate / check the data.")

    def on_train_epoch_end(self) -> None:
        for k, m in self.train_metrics.items():
            self.log(f"train/{k}", m.compute(), prog_bar=(k == "loss"))
            m.reset()
        self.log("train/nonfinite_steps", self.nonfinite_steps.to(torch.float32))
        if self.nonfinite == "error":
            self.check_nonfinite()

    def validation_step(self, batch: dict, batch_idx: int) -> dict:
        out = self.model(batch["inputs"], rails=self.rails_in_training)
        t = batch["targets"]
        self.val_metrics["loss"].update(self.losses(out, t, self.generator(1, batch_idx))["loss"])
        grid = out.extras["painter_grid"]
        exact = (grid == t["test_out"]).flatten(1).all(1)
        keep = t["test_out"] != PAD
        pixel = ((grid == t["test_out"]) & keep).flatten(1).sum(1) / keep.flatten(1).sum(1).clamp(min=1)
        self.val_metrics["exact"].update(exact.to(pixel.dtype))
        self.val_metrics["pixel"].update(pixel)
        return self.step_outputs(out, t)

    def on_validation_epoch_end(self) -> None:
        for k, m in self.val_metrics.items():
            self.log(f"val/{k}", m.compute(), prog_bar=(k == "exact"), sync_dist=True)
            m.reset()

    def configure_optimizers(self):
        cfg = self.optim_cfg
        opt = torch.optim.AdamW(self.model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"],
                                betas=tuple(cfg["betas"]))
        total = max(1, self.trainer.estimated_stepping_batches)
        warmup = min(cfg["warmup_steps"], total // 10 + 1)

        def schedule(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = (step - warmup) / max(1, total - warmup)
            return cfg["min_lr_ratio"] + (1 - cfg["min_lr_ratio"]) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    # ---- evaluation: the evaluator (topas_lit/eval/evaluator.py) does the work, Lightning's test loop drives it --
    def prepare_evaluation(self) -> None:
        self._forward_fn = inference_forward(self.model, self.model.compile_mode, self.device)
        self.model.eval()
