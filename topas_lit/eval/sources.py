"""Candidate sources: what proposes answers for the evaluator to vote on.

A source has a ``name`` and a call ``source(tasks) -> candidates[task][test input] = [Candidate, ...]``. It gets
tasks without their test outputs (``Task`` holds demos and test inputs only), decides on the device, and moves
its results to the host once per call. Optional members the evaluator uses when present:
- ``start(ctx: EvalContext)``: bind the model/device at the start of a test (called once per test);
- ``task_info``: after a call, one dict per task (what the source did: TTT steps, a skip reason, an ``error``),
  kept in the task's record under ``sources.<name>.info``;
- ``skip_verified = True``: the evaluator hands it only tasks that earlier sources have not fully answered with
  verified programs (``info`` says ``skipped: verified`` for the others);
- ``replaces = "<source>"``: where this source answered a task, the named source's candidates leave the
  combined vote of that task (TTT's adapted predictions replace the un-adapted network's). Each source's own
  attempts are still recorded;
- ``adapts = True``: the source runs per-task TTT; its ``task_info`` (steps, seconds, a skip reason) is the
  record's ``ttt`` field, which the log line and the report's TTT figures read.

Built-in sources (``SOURCES``, named in ``module.eval.sources``): ``rails`` (the DSL search, run outside the
painter's forward with the model's op prior), ``network`` (the painter under the voting augmentations) and
``ttt`` (per-task test-time training, then the painter). Adding one: a class with ``name`` and ``__call__`` (and
``start`` if it needs the model), and its name in ``SOURCES`` or a ``{_target_: ...}`` entry in the config list.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from topas_lit.capture import inference_callable
from topas_lit.data.augment import deaugment, identity_perm, random_perm
from topas_lit.data.tasks import Task
from topas_lit.data.tensors import encode_example, stack_inputs, unpad_grids
from topas_lit.errors import ConfigError
from topas_lit.eval.sequence_rows import SequenceRowsSource
from topas_lit.eval.sequence_source import SequenceSource
from topas_lit.eval.sequence_ttt import SequenceTTTSource
from topas_lit.eval.voting import Candidate
from topas_lit.modules.dsl import OP_NAMES
from topas_lit.modules.dsl.grid import S, inside
from topas_lit.modules.dsl.program import program_text
from topas_lit.modules.dsl.search import RAILS, RailSearch
from topas_lit.ttt import TaskAdapter, augment_inputs

log = logging.getLogger(__name__)
# what one task's TTT may raise and still leave the run going: the task is recorded with the error, it keeps the
# other sources' candidates (the un-adapted network's), the weights are restored. OutOfMemoryError (also
# torch.OutOfMemoryError) is a RuntimeError subclass, named for the reader; RuntimeError is what torch raises.
TTT_ERRORS = (torch.cuda.OutOfMemoryError, RuntimeError)

PerTask = list[list[list[Candidate]]]      # [task][test input] -> candidates


@dataclass
class EvalContext:
    """What sources may use at test start: the LightningModule, its model, the evaluation forward (eager or
    captured; reports to the module's evaluation listeners), the device, and the settings of the callbacks that
    shape predictions (``{"ebr_gate": {...}}``; a name is absent when its callback is)."""

    module: object
    model: torch.nn.Module
    forward: Callable
    device: torch.device
    callbacks: dict = field(default_factory=dict)


# ---- shared helpers -----------------------------------------------------------------------------------------------
def task_inputs(tasks: list[Task], max_demos: int, device) -> tuple[dict[str, Tensor], list[int]]:
    """One model item per (task, test input), on ``device``; ``owner[n]`` is the index of item n's task."""
    examples, owner = [], []
    for i, task in enumerate(tasks):
        for q in task.test_inputs:
            examples.append(encode_example(list(task.demos)[:max_demos], q))
            owner.append(i)
    return {k: v.to(device) for k, v in stack_inputs(examples).items()}, owner


def by_task(items: list, owner: list[int], n_tasks: int) -> list[list]:
    """Per-item values -> per task, in test-input order."""
    out: list[list] = [[] for _ in range(n_tasks)]
    for value, i in zip(items, owner):
        out[i].append(value)
    return out


def voting_augmentations(n: int, permute_colours: bool, seed: int) -> tuple[Tensor, Tensor]:
    """The voting passes' augmentations: pass 0 is the identity, pass a uses dihedral a mod 8 and a seeded colour
    permutation (colour 0 kept). -> (k [n], perm [n, 10])."""
    gen = torch.Generator().manual_seed(seed)
    k = torch.arange(n) % 8
    perm = random_perm(n, gen, keep_zero=True)
    perm[0] = identity_perm(1)[0]
    if not permute_colours:
        perm = identity_perm(n)
    return k, perm


def augmented_copies(inputs: dict[str, Tensor], passes: list[int], ks: Tensor, perms: Tensor
                     ) -> tuple[dict[str, Tensor], Tensor, Tensor]:
    """All items under each pass's augmentation, stacked pass-major: item n of pass j is row j * b + n."""
    b = inputs["test_in"].shape[0]
    dev = inputs["test_in"].device
    if ks.device != dev:            # sources keep them on the device from start(); a copy otherwise
        ks, perms = ks.to(dev), perms.to(dev)
    k = torch.cat([ks[a].expand(b) for a in passes])
    perm = torch.cat([perms[a].expand(b, -1) for a in passes])
    copies = {key: v.repeat(len(passes), *([1] * (v.dim() - 1))) for key, v in inputs.items()}
    return augment_inputs(copies, k, perm), k, perm


def undo(cells: Tensor, size: Tensor, k: Tensor, perm: Tensor) -> tuple[Tensor, Tensor]:
    """Invert each row's augmentation for [N, A, 30, 30] grids (A attempts per row)."""
    n, a = cells.shape[:2]
    c, s = deaugment(cells.flatten(0, 1), size.flatten(0, 1), k.repeat_interleave(a, output_size=n * a),
                     perm.repeat_interleave(a, 0, output_size=n * a))
    return c.view(n, a, S, S), s.view(n, a, 2)


class Augmented:
    """Settings shared by the sources that vote over augmentations."""

    def __init__(self, n_augment: int, permute_colours: bool, seed: int, max_demos: int):
        if n_augment < 1:
            raise ValueError(f"module.eval.n_augment must be >= 1, got {n_augment}")
        self.n_augment, self.max_demos = n_augment, max_demos
        self.ks, self.perms = voting_augmentations(n_augment, permute_colours, seed)
        self.device = torch.device("cpu")

    def start(self, ctx: EvalContext) -> None:
        self.device = ctx.device
        self.ks, self.perms = self.ks.to(ctx.device), self.perms.to(ctx.device)


@torch.no_grad()
def painter_candidates(forward: Callable, inputs: dict[str, Tensor], ks: Tensor, perms: Tensor, passes: list[int],
                       source: str) -> list[list[Candidate]]:
    """The network's two attempts per item under each pass's augmentation (all passes in one forward, rails off),
    inverted, moved to the host once. Confidence: the mean max cell probability inside the predicted size
    (the second attempt gets half of it)."""
    b = inputs["test_in"].shape[0]
    aug, k, perm = augmented_copies(inputs, passes, ks, perms)
    out = forward(aug, rails=False)
    cells, size = undo(out.attempts, out.extras["attempt_size"], k, perm)
    prob = out.logits.softmax(-1).amax(-1)
    keep = inside(out.extras["painter_size"]).to(prob.dtype)
    conf = (prob * keep).sum((1, 2)) / keep.sum((1, 2))
    grids = unpad_grids(cells.flatten(0, 1), size.flatten(0, 1))        # one host transfer
    conf = conf.float().cpu().tolist()
    result: list[list[Candidate]] = [[] for _ in range(b)]
    for j in range(len(passes)):
        for n in range(b):
            row = j * b + n
            result[n].append(Candidate(grids[2 * row], False, conf[row], "painter", "painter", source))
            result[n].append(Candidate(grids[2 * row + 1], False, 0.5 * conf[row], "painter", "painter", source))
    return result


# ---- sources --------------------------------------------------------------------------------------------------------
class RailsSource(Augmented):
    """The DSL search rails, run on their own (not inside the painter's forward), on the first
    ``search_augmentations`` voting passes. Each solved test input gets its verified answer and, when the search
    found a second distinct one, that too. ``prior``: ``model`` steers the search with the model's policy and
    merged op bias; ``uniform`` ranks every op alike."""

    name = "rails"

    def __init__(self, rail: dict | None = None, search_augmentations: int = 1, n_augment: int = 4,
                 permute_colours: bool = True, seed: int = 0, max_demos: int = 10, prior: str = "model"):
        super().__init__(max(n_augment, search_augmentations, 1), permute_colours, seed, max_demos)
        if prior not in ("model", "uniform"):
            raise ValueError(f"rails source prior must be 'model' or 'uniform', got {prior!r}")
        self.rail = dict(rail or {})
        self.passes = [] if self.rail.get("painter_always") else list(range(search_augmentations))
        self.prior_kind = prior
        self.model = self.search = None
        self.prior_and_search = self._prior_and_search
        self.task_info: list[dict] = []

    def start(self, ctx: EvalContext) -> None:
        """Search with the model's own engine and op prior when it has them (TopasModel); otherwise with an engine
        built from the rail settings and a uniform prior."""
        super().start(ctx)
        self.model = ctx.model
        self.search = getattr(ctx.model, "search", None)
        if self.search is None:
            r = self.rail
            self.search = RailSearch(order=r["order"], depth=r["depth"], beam_width=r["beam_width"],
                                     policy_topk=r["policy_topk"], progress_weight=r["progress_weight"]).to(ctx.device)
        if not hasattr(ctx.model, "op_prior"):
            self.prior_kind = "uniform"
        # the op prior + search is sync-free: with model.compile=cudagraph it replays as CUDA graphs, like the forward
        self.prior_and_search = inference_callable(self._prior_and_search, getattr(ctx.model, "compile_mode", "none"),
                                                   ctx.device)

    @classmethod
    def from_settings(cls, settings: dict) -> "RailsSource":
        return cls(settings["rail"], settings["eval"]["search_augmentations"], **voting_kwargs(settings))

    def prior(self, inputs: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """(step log-probs [B, depth, n_ops], op bias [B, n_ops]) that rank the search's programs."""
        if self.prior_kind == "uniform":
            b, dev, n_ops = inputs["test_in"].shape[0], inputs["test_in"].device, self.search.n_ops
            return (torch.full((b, self.search.depth, n_ops), -math.log(n_ops), device=dev),
                    torch.zeros(b, n_ops, device=dev))
        enc = self.model.encode(inputs)
        p = self.model.op_prior(enc["latent"], enc["relmem_bias"])
        return p["step_logp"], p["op_bias"]

    def _prior_and_search(self, inputs: dict[str, Tensor]) -> dict[str, Tensor]:
        step_logp, op_bias = self.prior(inputs)
        res = self.search(inputs, step_logp, op_bias)
        return {"cells": torch.stack([res.cells, res.second_cells], 1),
                "size": torch.stack([res.size, res.second_size], 1),
                "ok": torch.stack([res.solved, res.solved & res.second_ok], 1), "rail": res.rail,
                "program": torch.stack([res.program, res.second_program], 1), "candidates": res.candidates}

    @torch.no_grad()
    def propose(self, inputs: dict[str, Tensor]) -> dict[str, Tensor]:
        """Device work only (no host read): search every pass's copy of the items and invert the answers."""
        aug, k, perm = augmented_copies(inputs, self.passes, self.ks, self.perms)
        found = self.prior_and_search(aug)
        found["cells"], found["size"] = undo(found["cells"], found["size"], k, perm)
        return found

    def __call__(self, tasks: list[Task]) -> PerTask:
        inputs, owner = task_inputs(tasks, self.max_demos, self.device)
        b = len(owner)
        per_item: list[list[Candidate]] = [[] for _ in range(b)]
        evaluated = [0] * b
        if self.passes:
            found = self.propose(inputs)
            grids = unpad_grids(found["cells"].flatten(0, 1), found["size"].flatten(0, 1))   # one host transfer
            ok, rail, program, cands = (found[key].cpu().tolist() for key in ("ok", "rail", "program", "candidates"))
            for row in range(len(ok)):
                n = row % b
                evaluated[n] += cands[row]
                for a in range(2):
                    if ok[row][a]:
                        text = program_text(program[row][a], OP_NAMES)
                        per_item[n].append(Candidate(grids[2 * row + a], True, 1.0, RAILS[rail[row]], text, self.name))
        self.task_info = [{"candidates_evaluated": sum(e)} for e in by_task(evaluated, owner, len(tasks))]
        return by_task(per_item, owner, len(tasks))


class NetworkSource(Augmented):
    """The painter (with EBR under the evaluation gate) under every voting augmentation, two attempts each."""

    name = "network"

    def __init__(self, n_augment: int = 4, permute_colours: bool = True, seed: int = 0, max_demos: int = 10):
        super().__init__(n_augment, permute_colours, seed, max_demos)
        self.forward: Callable | None = None

    def start(self, ctx: EvalContext) -> None:
        super().start(ctx)
        self.forward = ctx.forward

    @classmethod
    def from_settings(cls, settings: dict) -> "NetworkSource":
        return cls(**voting_kwargs(settings))

    def __call__(self, tasks: list[Task]) -> PerTask:
        inputs, owner = task_inputs(tasks, self.max_demos, self.device)
        cands = painter_candidates(self.forward, inputs, self.ks, self.perms, list(range(self.n_augment)), self.name)
        return by_task(cands, owner, len(tasks))


class TTTSource(Augmented):
    """Per-task test-time training, then the painter's voting predictions with the task's adapted weights.

    Tasks adapt in chunks of ``tasks_at_once`` (each its own weights, see ``topas_lit.ttt``); each then predicts
    with its weights loaded, under the post-TTT EBR gate (the EBR gate callback's ``ttt`` setting; without that
    callback, the gate the model has), and the start-of-test snapshot is restored. A task with one demo cannot
    adapt (leave-one-out); a failure inside a task's TTT is recorded in its info and the task gets no TTT
    candidates (it keeps the other sources'). ``replaces = "network"``: a task's TTT candidates stand in for
    the un-adapted network's in its combined vote.
    """

    name = "ttt"
    replaces = "network"
    adapts = True

    def __init__(self, ttt: dict, n_augment: int = 4, permute_colours: bool = True, seed: int = 0,
                 max_demos: int = 10, context_demos: int = 3, skip_verified: bool = True):
        super().__init__(n_augment, permute_colours, seed, max_demos)
        self.cfg = dict(ttt)
        self.enabled = bool(self.cfg["enabled"]) and self.cfg["steps"] > 0
        self.context_demos, self.skip_verified = context_demos, skip_verified
        self.adapter: TaskAdapter | None = None
        self.snapshot: list[Tensor] = []
        self.gate: str | None = None
        self.task_info: list[dict] = []

    def start(self, ctx: EvalContext) -> None:
        super().start(ctx)
        self.model, self.forward = ctx.model, ctx.forward
        gate = ctx.callbacks.get("ebr_gate")
        self.gate = gate.get("ttt") if isinstance(gate, dict) else None    # no callback: the model's own gate
        if not self.enabled:
            return
        self.adapter = TaskAdapter.from_config(self.model, self.cfg, self.context_demos)
        with torch.no_grad():       # on the device, restored in place after each task: nothing leaves the GPU
            self.snapshot = [p.clone() for p in self.model.parameters()]

    @classmethod
    def from_settings(cls, settings: dict) -> "TTTSource":
        ttt = settings["ttt"]
        skip = bool(ttt["enabled"]) and settings["rail"]["ttt_when_verified"] == "skip"
        return cls(ttt, **voting_kwargs(settings), context_demos=settings["context_demos"], skip_verified=skip)

    def adapt(self, tasks: list[Task]) -> tuple[dict[str, Tensor], Tensor]:
        """Adapt one copy of the chosen parameters per task, all at once."""
        return self.adapter.adapt(tasks, self.device)

    def restore(self) -> None:
        with torch.no_grad():
            for p, s in zip(self.model.parameters(), self.snapshot):
                p.copy_(s)

    def _failed(self, err: BaseException) -> str:
        self.restore()
        if isinstance(err, torch.cuda.OutOfMemoryError) and torch.cuda.is_available():
            torch.cuda.empty_cache()
        return f"{type(err).__name__}: {err}"

    def predict(self, task: Task) -> list[list[Candidate]]:
        """The loaded (adapted) weights' voting predictions for one task, under the post-TTT gate."""
        inputs, owner = task_inputs([task], self.max_demos, self.device)
        gate = self.model.ebr.gate
        self.model.ebr.set_gate(self.gate or gate)
        try:
            return painter_candidates(self.forward, inputs, self.ks, self.perms, list(range(self.n_augment)),
                                      self.name)
        finally:
            self.model.ebr.set_gate(gate)

    def __call__(self, tasks: list[Task]) -> PerTask:
        out: PerTask = [[[] for _ in t.test_inputs] for t in tasks]
        self.task_info = [{"steps": 0, "skipped": None, "seconds": 0.0} for _ in tasks]
        adapt = []
        for i, task in enumerate(tasks):
            if not self.enabled:
                self.task_info[i]["skipped"] = "disabled"
            elif not self.adapter.adaptable(task):
                self.task_info[i]["skipped"] = "one demo"
            else:
                adapt.append(i)
        at_once = self.cfg.get("tasks_at_once") or len(adapt) or 1
        for c in range(0, len(adapt), at_once):           # chunks of ttt.tasks_at_once tasks (memory)
            self._adapt_chunk(tasks, adapt[c:c + at_once], out)
        return out

    def _adapt_chunk(self, tasks: list[Task], chunk: list[int], out: PerTask) -> None:
        t0 = time.perf_counter()
        try:
            stacked, _ = self.adapt([tasks[i] for i in chunk])
        except TTT_ERRORS as err:
            stacked, cause = None, self._failed(err)
            log.warning("TTT failed for task(s) %s (%s); they keep the other sources' predictions",
                        [tasks[i].id for i in chunk], cause)
            for i in chunk:
                self.task_info[i].update(skipped="error", error=f"TTT failed: {cause}")
        per_task = (time.perf_counter() - t0) / len(chunk)
        for j, i in enumerate(chunk):
            t1 = time.perf_counter()
            if stacked is not None:
                try:
                    self.adapter.load(stacked, j)
                    out[i] = self.predict(tasks[i])
                    self.task_info[i]["steps"] = self.cfg["steps"]
                except TTT_ERRORS as err:
                    cause = self._failed(err)
                    log.warning("prediction after TTT failed for task %s (%s)", tasks[i].id, cause)
                    self.task_info[i].update(skipped="error", error=f"prediction after TTT failed: {cause}")
                    out[i] = [[] for _ in tasks[i].test_inputs]
                finally:
                    self.restore()
            self.task_info[i]["seconds"] = per_task + time.perf_counter() - t1


class SearchStage:
    """The level-wise search engine (``topas_lit/search``) as a source: every test input of every task in one search
    per canvas bucket, outside any model, with the uniform prior; verified programs' distinct answers, best first.
    ``rails`` is the older per-item search with the slot model's op prior."""

    name = "search"

    def __init__(self, rail: dict, max_demos: int = 10):
        self.rail, self.max_demos = dict(rail), max_demos
        self.source = None
        self.task_info: list[dict] = []

    @classmethod
    def from_settings(cls, settings: dict) -> "SearchStage":
        return cls(settings["rail"], settings["max_demos"])

    def start(self, ctx: EvalContext) -> None:
        from omegaconf import OmegaConf

        from topas_lit.search.source import build_source
        self.source = build_source(OmegaConf.create(self.rail), ctx.device, self.name, self.max_demos)

    def __call__(self, tasks: list[Task]) -> PerTask:
        answers = self.source.search(tasks)
        self.task_info = [{"candidates_evaluated": a.candidates} for a in answers]
        return [[[self.source.candidate(g, p, r, i) for i, (g, p, r) in enumerate(zip(gs, ps, rs))]
                 for gs, ps, rs in zip(a.grids, a.programs, a.rails)] for a in answers]


SOURCES = {"rails": RailsSource, "search": SearchStage, "network": NetworkSource, "ttt": TTTSource, "sequence": SequenceSource,
           "sequence_rows": SequenceRowsSource, "sequence_ttt": SequenceTTTSource}


def voting_kwargs(settings: dict) -> dict:
    ev = settings["eval"]
    return {"n_augment": ev["n_augment"], "permute_colours": ev["permute_colours"], "seed": ev["seed"],
            "max_demos": settings["max_demos"]}


def build_sources(entries, settings: dict) -> list:
    """Sources from ``module.eval.sources``: names from ``SOURCES`` (built from ``settings``: ``eval``, ``ttt``,
    ``rail``, ``max_demos``, ``context_demos``) or ``{_target_: ...}`` entries (instantiated as written)."""
    from hydra.utils import instantiate

    out = []
    for entry in entries:
        if isinstance(entry, str):
            if entry not in SOURCES:
                raise ConfigError(f"module.eval.sources names an unknown source {entry!r}; known: {list(SOURCES)} "
                                  f"(or a {{_target_: ...}} entry)")
            out.append(SOURCES[entry].from_settings(settings))
        else:
            out.append(instantiate(entry, _convert_="all"))
    names = [s.name for s in out]
    if len(set(names)) != len(names) or not names:
        raise ConfigError(f"module.eval.sources must name at least one source, each once; got {names}")
    return out
