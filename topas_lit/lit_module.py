"""TopasLitModule: losses, training/validation steps, evaluation with voting and per-task TTT, optimizers."""
from __future__ import annotations

import logging
import math
import time

import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from lightning.pytorch import LightningModule
from torch import Tensor
from torchmetrics import MeanMetric

from topas_lit.capture import inference_forward
from topas_lit.data.augment import deaugment, identity_perm, random_perm
from topas_lit.data.tasks import Task
from topas_lit.data.tensors import encode_example, stack_inputs, unpad_grids
from topas_lit.eval.results import ResultStore
from topas_lit.eval.scoring import attempt_correct, cell_accuracy
from topas_lit.eval.voting import Candidate, vote
from topas_lit.modules.dsl import OP_NAMES
from topas_lit.modules.dsl.grid import N_COLOURS, PAD, S, inside
from topas_lit.modules.dsl.program import program_text
from topas_lit.modules.dsl.search import PAINTER, RAILS
from topas_lit.modules.topas import TopasModel, TopasOutput
from topas_lit.ttt import TaskAdapter, augment_inputs

log = logging.getLogger(__name__)
LOSS_TERMS = ("painter", "size", "policy", "strategy", "ebr")
NONFINITE_POLICIES = ("error", "skip")
# what one task's TTT may raise and still leave the run going: the task is recorded with the error, its answer
# falls back to the un-adapted predictions, the weights are restored. OutOfMemoryError (torch.OutOfMemoryError in
# torch >= 2.5) is a RuntimeError subclass, named for the reader; RuntimeError is what torch raises inside a step.
TTT_ERRORS = (torch.cuda.OutOfMemoryError, RuntimeError)


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


class TopasLitModule(LightningModule):
    def __init__(self, model: dict, optim: dict, loss: dict, eval: dict, ttt: dict, rail: dict,
                 results_dir: str | None = None, seed: int = 0, nonfinite: str = "error",
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
        self.optim_cfg, self.loss_w, self.eval_cfg, self.ttt_cfg = dict(optim), dict(loss), dict(eval), dict(ttt)
        unknown = set(self.loss_w) - set(LOSS_TERMS) - {"ebr_margin"}
        if unknown:
            raise ValueError(f"unknown loss term(s) {sorted(unknown)}; known: {LOSS_TERMS}")
        if self.ttt_cfg["steps"] < 0:
            raise ValueError(f"ttt.steps must be >= 0, got {self.ttt_cfg['steps']}")
        if rail["ttt_when_verified"] not in ("skip", "run"):
            raise ValueError(f"rail.ttt_when_verified must be 'skip' or 'run', got {rail['ttt_when_verified']!r}")
        self.rails_in_training = bool(rail["in_training"])
        self.ttt_when_verified = rail["ttt_when_verified"]
        self.results_dir = results_dir
        self.train_metrics = torch.nn.ModuleDict({k: metric(persistent=True) for k in ("loss",) + LOSS_TERMS})
        # non-finite steps: a device count, and the first bad global step (-1: none), both in checkpoints
        self.register_buffer("nonfinite_steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("first_nonfinite_step", torch.full((), -1, dtype=torch.long))
        self._step_finite: Tensor | None = None
        self.val_metrics = torch.nn.ModuleDict({k: metric() for k in ("loss", "exact", "pixel")})
        self._snapshot: list[Tensor] | None = None
        self.store: ResultStore | None = None
        self.last_records: list[dict] = []
        self._forward_fn = self.model.__call__  # evaluation forward: eager, CUDA-graphed or compiled
        self.eval_listeners: list = []          # callables given every evaluation output (e.g. EBRGate's counters)
        self.ttt_ebr_gate: str | None = None   # EBR gate for predictions after TTT (set by the EBRGate callback)

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

    # ---- evaluation ---------------------------------------------------------------------------------------
    def augmentations(self, n: int) -> tuple[Tensor, Tensor]:
        """The voting augmentations: identity first, then dihedral k = a mod 8 with seeded colour permutations."""
        gen = torch.Generator().manual_seed(self.eval_cfg["seed"])
        k = torch.arange(n) % 8
        perm = random_perm(n, gen, keep_zero=True)
        perm[0] = identity_perm(1)[0]
        if not self.eval_cfg["permute_colours"]:
            perm = identity_perm(n)
        return k, perm

    def on_test_start(self) -> None:
        # snapshot on the device, restored in place after each task's TTT: nothing leaves the GPU
        with torch.no_grad():
            self._snapshot = [p.clone() for p in self.model.parameters()]
        self.store = ResultStore(self.results_dir or ".", self.global_rank)
        self._forward_fn = inference_forward(self.model, self.model.compile_mode, self.device)
        self.adapter = TaskAdapter.from_config(self.model, self.ttt_cfg, self.trainer.datamodule.max_train_demos)
        self._done = self.store.done()
        self._tally = [0, 0]  # test inputs solved, scored
        self.model.eval()

    def after_ttt_error(self, err: BaseException) -> None:
        """Put the live weights back to the snapshot and free the failed attempt's cached device memory."""
        self.restore_weights()
        if isinstance(err, torch.cuda.OutOfMemoryError) and torch.cuda.is_available():
            torch.cuda.empty_cache()

    def restore_weights(self) -> None:
        with torch.no_grad():
            for p, s in zip(self.model.parameters(), self._snapshot):
                p.copy_(s)

    def test_step(self, batch, batch_idx: int) -> None:
        """Evaluate a batch of tasks: rails + painter on every test input (one batched pass); TTT for the tasks
        the rail policy sends to it (all adapting at once, each its own weights; each then predicts with its
        weights loaded, and the snapshot is restored); voting over the augmentation passes; one result record
        per task, written as soon as it is known."""
        tasks = [t for t in batch.tasks if t.id not in self._done]
        self.last_records = []          # host-side per-task records of this batch, for the callbacks
        if not tasks:
            return
        solutions = self.trainer.datamodule.test_set.solutions
        t0 = time.perf_counter()
        inputs, owner = self.task_inputs(tasks)
        passes = self.eval_cfg["n_augment"]
        first = self.predict_candidates(inputs, range(0, 1))
        ttt_cfg = self.ttt_cfg
        runs_ttt = []
        for i, task in enumerate(tasks):
            items = [n for n, o in enumerate(owner) if o == i]
            verified = all(any(c.verified for c in first[n]) for n in items)
            if not (ttt_cfg["enabled"] and ttt_cfg["steps"] > 0):
                runs_ttt.append("disabled")
            elif verified and self.ttt_when_verified == "skip":
                runs_ttt.append("verified")
            elif not self.adapter.adaptable(task):
                runs_ttt.append("one demo")
            else:
                runs_ttt.append(None)
        # tasks without TTT: the remaining passes in one batch
        plain = [n for n, o in enumerate(owner) if runs_ttt[o] is not None]
        rest = self.predict_candidates(select(inputs, plain), range(1, passes)) if plain and passes > 1 else []
        cands = {n: first[n] + (rest[j] if rest else []) for j, n in enumerate(plain)}
        shared = (time.perf_counter() - t0) / len(tasks)
        ttt_info = [{"steps": 0, "skipped": runs_ttt[i], "seconds": 0.0} for i in range(len(tasks))]
        errors: list[str | None] = [None] * len(tasks)
        adapt = [i for i in range(len(tasks)) if runs_ttt[i] is None]
        at_once = ttt_cfg.get("tasks_at_once") or len(adapt) or 1
        for c in range(0, len(adapt), at_once):         # adapt in chunks of ttt.tasks_at_once tasks (memory)
            self.adapt_and_predict(tasks, adapt[c:c + at_once], inputs, owner, passes, first, cands, ttt_info, errors)
        for i, task in enumerate(tasks):
            items = [n for n, o in enumerate(owner) if o == i]
            ttt, error = ttt_info[i], errors[i]
            t1 = time.perf_counter()
            record = self.task_record(task, [vote(cands[n], 2) for n in items], solutions.get(task.id), ttt, error)
            record["seconds"] = shared + ttt["seconds"] + time.perf_counter() - t1
            record["rank"] = self.global_rank
            self.store.append(record)
            self.last_records.append(record)
            if record["correct"] is not None:
                self._tally[0] += sum(record["correct"])
                self._tally[1] += len(record["correct"])
            log.info("task %s: rails %s, TTT %s, correct %s, %.1fs", task.id, record["rails"],
                     ttt["skipped"] or f"{ttt['steps']} steps", record["correct"], record["seconds"])
        if self._tally[1]:
            self.log("pass@2", self._tally[0] / self._tally[1], prog_bar=True, on_step=True, on_epoch=False,
                     logger=False, batch_size=len(tasks))

    def adapt_and_predict(self, tasks: list[Task], adapt: list[int], inputs: dict[str, Tensor], owner: list[int],
                          passes: int, first: list, cands: dict, ttt_info: list[dict], errors: list) -> None:
        """TTT for tasks[i], i in ``adapt``, all at once (each its own weights), then each task's predictions with
        its weights loaded and the snapshot restored. A failure is recorded per task; they keep the un-adapted
        predictions."""
        t1 = time.perf_counter()
        try:
            stacked, _ = self.adapt([tasks[i] for i in adapt])
        except TTT_ERRORS as err:
            stacked = None
            for i in adapt:
                errors[i] = f"TTT failed: {type(err).__name__}: {err}"
                ttt_info[i]["skipped"] = "error"
            log.warning("TTT failed for task(s) %s (%s: %s); they keep their un-adapted predictions",
                        [tasks[i].id for i in adapt], type(err).__name__, err)
            self.after_ttt_error(err)
        per_task = (time.perf_counter() - t1) / len(adapt)
        for j, i in enumerate(adapt):
            items = [n for n, o in enumerate(owner) if o == i]
            t2 = time.perf_counter()
            if stacked is not None:
                try:
                    self.adapter.load(stacked, j)
                    adapted = self.predict_adapted(select(inputs, items), range(0, passes))
                    cands.update((n, [c for c in first[n] if c.verified] + got) for n, got in zip(items, adapted))
                    ttt_info[i]["steps"] = self.ttt_cfg["steps"]
                except TTT_ERRORS as err:
                    errors[i] = f"prediction after TTT failed: {type(err).__name__}: {err}"
                    ttt_info[i]["skipped"] = "error"
                    log.warning("prediction after TTT failed for task %s (%s: %s)", tasks[i].id,
                                type(err).__name__, err)
                    self.after_ttt_error(err)
                finally:
                    self.restore_weights()
            ttt_info[i]["seconds"] = per_task + time.perf_counter() - t2
            if errors[i] is not None:                   # fall back to the un-adapted predictions
                cands.update((n, first[n]) for n in items)

    @staticmethod
    def task_record(task: Task, votes: list[list], answers: list | None, ttt: dict, error: str | None) -> dict:
        attempts = [[v.grid for v in vs] + [vs[0].grid] * (2 - len(vs)) for vs in votes]
        correct = None if answers is None else [attempt_correct(a, ans) for a, ans in zip(attempts, answers)]
        cells = None if answers is None else [cell_accuracy(a, ans) for a, ans in zip(attempts, answers)]
        return {"task_id": task.id, "attempts": attempts, "rails": [vs[0].rail for vs in votes],
                "programs": [vs[0].program for vs in votes], "verified": [vs[0].verified > 0 for vs in votes],
                "correct": correct, "cell_accuracy": cells, "error": error, "ttt": ttt}

    def task_inputs(self, tasks: list[Task]) -> tuple[dict[str, Tensor], list[int]]:
        """One model item per (task, test input); ``owner[n]`` is the index of item n's task."""
        max_demos = self.trainer.datamodule.max_demos
        examples, owner = [], []
        for i, task in enumerate(tasks):
            for q in task.test_inputs:
                examples.append(encode_example(list(task.demos)[:max_demos], q))
                owner.append(i)
        return {k: v.to(self.device) for k, v in stack_inputs(examples).items()}, owner

    @torch.no_grad()
    def predict_candidates(self, inputs: dict[str, Tensor], passes: range, rails: bool = True) -> list[list[Candidate]]:
        """Forward under the given augmentation passes (rails on the first ``eval.search_augmentations`` when
        ``rails``), invert each prediction, move everything to the host once, and return each item's candidates.
        Passes alike in their rails setting run as one forward over all their copies of the items."""
        b = inputs["test_in"].shape[0]
        ks, perms = self.augmentations(self.eval_cfg["n_augment"])
        with_rails = [a for a in passes if rails and a < self.eval_cfg["search_augmentations"]]
        per_pass = {}
        for group, search in ((with_rails, True), ([a for a in passes if a not in with_rails], False)):
            if not group:
                continue
            n = len(group) * b                                       # items of all passes in the group
            k = torch.cat([ks[a].expand(b) for a in group]).to(self.device)
            perm = torch.cat([perms[a].expand(b, -1) for a in group]).to(self.device)
            copies = {key: v.repeat(len(group), *([1] * (v.dim() - 1))) for key, v in inputs.items()}
            out = self.infer(augment_inputs(copies, k, perm), rails=search)
            ex = out.extras
            cells, size = deaugment(out.attempts.flatten(0, 1), ex["attempt_size"].flatten(0, 1),
                                    k.repeat_interleave(2, output_size=2 * n),
                                    perm.repeat_interleave(2, 0, output_size=2 * n))
            prob = out.logits.softmax(-1).amax(-1)
            keep = inside(ex["painter_size"]).to(prob.dtype)
            p_conf = (prob * keep).sum((1, 2)) / keep.sum((1, 2))
            results = (cells.view(n, 2, S, S), size.view(n, 2, 2),
                       torch.stack([ex["solved"], ex["second_verified"]], 1),
                       torch.where(ex["solved"], torch.ones_like(p_conf), p_conf), ex["rail"], ex["program"])
            for j, a in enumerate(group):
                per_pass[a] = [x[j * b:(j + 1) * b] for x in results]
        grids, sizes, verified, conf, rail_codes, progs = zip(*(per_pass[a] for a in passes))
        n_pass = len(grids)
        g, sz, ver, cf, rc, pg = [torch.stack(x, 1).cpu() for x in (grids, sizes, verified, conf, rail_codes, progs)]
        flat = unpad_grids(g.flatten(0, 2), sz.flatten(0, 2))
        out_cands = []
        for i in range(b):
            cands = []
            for a in range(n_pass):
                base = (i * n_pass + a) * 2
                first_ver, second_ver = bool(ver[i, a, 0]), bool(ver[i, a, 1])
                rail = RAILS[int(rc[i, a])]
                prog = program_text(pg[i, a].tolist(), OP_NAMES) if first_ver else "painter"
                cands.append(Candidate(flat[base], first_ver, float(cf[i, a]), rail, prog))
                cands.append(Candidate(flat[base + 1], second_ver, 1.0 if second_ver else 0.5 * float(cf[i, a]),
                                       rail if second_ver else "painter", "second verified" if second_ver else "painter"))
            out_cands.append(cands)
        return out_cands

    # ---- TTT ----------------------------------------------------------------------------------------------
    def adapt(self, tasks: list[Task]) -> tuple[dict[str, Tensor], Tensor]:
        """Adapt a copy of the chosen parameters per task, all tasks at once (vmap over tasks when several)."""
        return self.adapter.adapt(tasks, self.device)

    def predict_adapted(self, inputs: dict[str, Tensor], passes: range) -> list[list[Candidate]]:
        """Painter predictions of a task with its adapted weights loaded (TTT trains the painter; the rails'
        verified answers from the first pass stand), under the TTT EBR gate when one is set."""
        gate = self.model.ebr.gate
        self.model.ebr.set_gate(self.ttt_ebr_gate or gate)
        try:
            return self.predict_candidates(inputs, passes, rails=False)
        finally:
            self.model.ebr.set_gate(gate)

    def on_test_end(self) -> None:
        self.trainer.strategy.barrier()


def select(inputs: dict[str, Tensor], items: list[int]) -> dict[str, Tensor]:
    idx = torch.tensor(items, device=inputs["test_in"].device)
    return {k: v.index_select(0, idx) for k, v in inputs.items()}
