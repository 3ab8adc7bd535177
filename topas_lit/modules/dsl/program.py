"""Programs (sequences of op ids) over task slots: execution, verification, fingerprints and dedupe.

A task's slots are its demo inputs followed by its test input (G = D + 1). A candidate is one state per slot:
``cells [B, C, G, 30, 30]``, ``size [B, C, 2]``... for B tasks x C candidates. Everything here is sync-free.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from topas_lit.modules.dsl.grid import PAD, S
from topas_lit.modules.dsl.registry import DemoTargets, GridBatch, Primitive, apply_primitive

NEG = float("-inf")


@dataclass
class Slots:
    """Per-task slot layout built from the model inputs (all [B, G, ...])."""

    cells: Tensor        # [B, G, 30, 30] demo inputs then test input
    size: Tensor         # [B, G, 2]
    target: Tensor       # [B, G, 30, 30] demo outputs; PAD on the test slot and padded demos
    target_size: Tensor  # [B, G, 2]
    has_target: Tensor   # [B, G] bool
    exists: Tensor       # [B, G] bool

    @classmethod
    def from_inputs(cls, inputs: dict[str, Tensor]) -> "Slots":
        b = inputs["test_in"].shape[0]
        dev = inputs["test_in"].device
        cells = torch.cat([inputs["demo_in"], inputs["test_in"][:, None]], 1)
        size = torch.cat([inputs["demo_in_size"], inputs["test_in_size"][:, None]], 1)
        no_target = torch.full((b, 1, S, S), PAD, dtype=cells.dtype, device=dev)
        target = torch.cat([inputs["demo_out"], no_target], 1)
        target_size = torch.cat([inputs["demo_out_size"], torch.ones(b, 1, 2, dtype=size.dtype, device=dev)], 1)
        demo_mask = inputs["demo_mask"]
        false = torch.zeros(b, 1, dtype=torch.bool, device=dev)
        has_target = torch.cat([demo_mask, false], 1)
        exists = torch.cat([demo_mask, ~false], 1)
        return cls(cells, size, target, target_size, has_target, exists)

    @property
    def n(self) -> int:
        return self.cells.shape[1]

    def demo_targets(self, c: int) -> DemoTargets:
        """Targets for B x c candidates, flattened to M = B * c (what fitted primitives read)."""
        b, g = self.has_target.shape

        def rep(x):
            return x[:, None].expand(b, c, *x.shape[1:]).reshape(b * c, *x.shape[1:])

        return DemoTargets(rep(self.target), rep(self.target_size), rep(self.has_target), rep(self.exists))


def apply_all(prim: Primitive, cells: Tensor, size: Tensor, demos: DemoTargets, batch: GridBatch | None = None):
    """Apply ``prim`` to candidate states [B, C, G, ...]; returns (cells, size, ok [B, C, G])."""
    b, c, g = cells.shape[:3]
    batch = batch if batch is not None else GridBatch(cells.reshape(-1, S, S), size.reshape(-1, 2))
    out, out_size, ok = apply_primitive(prim, batch, demos)
    return out.view(b, c, g, S, S), out_size.view(b, c, g, 2), ok.view(b, c, g)


def verify(cells: Tensor, ok: Tensor, slots: Slots) -> tuple[Tensor, Tensor]:
    """-> (valid [B, C]: every real slot produced a grid, solved [B, C]: valid and every demo output reproduced).

    PAD lies exactly outside each grid, so equal cells imply equal sizes.
    """
    valid = (ok | ~slots.exists[:, None]).all(-1)
    match = (cells == slots.target[:, None]).flatten(-2).all(-1)                 # [B, C, G]
    solved = valid & (match | ~slots.has_target[:, None]).all(-1)
    return valid, solved


def progress(cells: Tensor, size: Tensor, slots: Slots) -> Tensor:
    """Closeness of states to the demo outputs in [0, 2]: size-match rate + cell accuracy where sizes match."""
    has = torch.where(slots.has_target[:, None], 1.0, 0.0)                       # [B, 1, G]
    n = has.sum(-1).clamp(min=1.0)
    same_size = torch.where((size == slots.target_size[:, None]).all(-1), 1.0, 0.0)  # [B, C, G]
    inside = (slots.target[:, None] != PAD).flatten(-2)
    agree = ((cells == slots.target[:, None]).flatten(-2) & inside).sum(-1) / inside.sum(-1).clamp(min=1)
    return ((same_size + same_size * agree) * has).sum(-1) / n


class Fingerprinter(torch.nn.Module):
    """Random int64 weights per cell and per slot: equal states give equal fingerprints on the device."""

    MAX_SLOTS = 64

    def __init__(self, seed: int = 1234):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("cell_w", torch.randint(1, 2**31 - 1, (S * S,), generator=g), persistent=False)
        self.register_buffer("slot_w", torch.randint(1, 2**31 - 1, (self.MAX_SLOTS,), generator=g), persistent=False)

    def per_slot(self, cells: Tensor) -> Tensor:
        """[..., 30, 30] -> [...] int64 fingerprint of each grid."""
        return ((cells + 1) * self.cell_w.view(S, S)).flatten(-2).sum(-1)

    def forward(self, cells: Tensor, exists: Tensor) -> tuple[Tensor, Tensor]:
        """cells [B, C, G, 30, 30], exists [B, G] -> (state fingerprint [B, C], test-slot fingerprint [B, C])."""
        g = cells.shape[2]
        if g > self.MAX_SLOTS:
            raise ValueError(f"a task has {g - 1} demos; the search supports at most {self.MAX_SLOTS - 1}")
        per = self.per_slot(cells)                                                # [B, C, G]
        state = (per * self.slot_w[:g] * exists[:, None]).sum(-1)                 # wraps mod 2^64: fine for a hash
        return state, per[..., -1]


def dedupe(fp: Tensor, score: Tensor) -> Tensor:
    """Keep the best-scored candidate of each fingerprint: duplicates' scores become -inf. fp, score [B, C]."""
    order = score.argsort(dim=-1, descending=True, stable=True)
    fp_sorted = fp.gather(1, order)
    regroup = fp_sorted.argsort(dim=-1, stable=True)                                  # equal fps, best score first
    idx = order.gather(1, regroup)
    fp_grouped = fp.gather(1, idx)
    dup_grouped = torch.cat([torch.zeros_like(fp_grouped[:, :1], dtype=torch.bool),
                             fp_grouped[:, 1:] == fp_grouped[:, :-1]], 1)
    dup = torch.zeros_like(dup_grouped).scatter(1, idx, dup_grouped)
    return score.masked_fill(dup, NEG)


def top(score: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Deterministic top-k along dim 1 (stable sort: ties keep candidate order). -> (scores, indices)."""
    s, i = score.sort(dim=-1, descending=True, stable=True)
    return s[:, :k], i[:, :k]


def take(x: Tensor, idx: Tensor) -> Tensor:
    """Gather candidates: x [B, C, ...], idx [B, K] -> [B, K, ...]."""
    shape = idx.shape + x.shape[2:]
    return x.gather(1, idx.view(*idx.shape, *([1] * (x.dim() - 2))).expand(shape))


def ranked_programs(step_score: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Exact top-k programs under per-step scores [B, depth, n_ops] (scores add over steps, so the best k
    programs extend the best k prefixes) -> (programs [B, k, depth], score [B, k])."""
    b, depth, n = step_score.shape
    progs = torch.zeros(b, 1, 0, dtype=torch.long, device=step_score.device)
    score = torch.zeros(b, 1, device=step_score.device, dtype=step_score.dtype)
    for t in range(depth):
        flat = (score[:, :, None] + step_score[:, t, None, :]).reshape(b, -1)
        score, idx = top(flat, min(k, flat.shape[1]))
        progs = torch.cat([take(progs, idx // n), (idx % n)[..., None]], -1)
    return progs, score


def run_programs(prims: list[Primitive], programs: Tensor, slots: Slots) -> tuple[Tensor, Tensor, Tensor]:
    """Execute programs [B, K, depth] of op ids on every slot of their task.

    Each step applies every primitive to the current states and keeps, per program, the output of its own op
    (sync-free: masks, no grouping of programs by op on the host). All programs start from the same root, so
    step 0 runs each primitive once per task, not once per program.
    -> (cells [B,K,G,30,30], size [B,K,G,2], ok [B,K,G]).
    """
    b, k, depth = programs.shape
    g = slots.n
    cells, size = slots.cells[:, None], slots.size[:, None]                      # [B, 1, G, ...]: the root
    ok = torch.ones(b, 1, g, dtype=torch.bool, device=cells.device)
    for t in range(depth):
        width = cells.shape[1]
        demos = slots.demo_targets(width)
        batch = GridBatch(cells.reshape(-1, S, S), size.reshape(-1, 2))
        new_cells = cells.expand(b, k, g, S, S)
        new_size, new_ok = size.expand(b, k, g, 2), ok.expand(b, k, g)
        for op, prim in enumerate(prims):
            c, s, o = apply_all(prim, cells, size, demos, batch)
            pick = (programs[:, :, t] == op)[..., None]                          # [B, K, 1]
            new_cells = torch.where(pick[..., None, None], c, new_cells)
            new_size = torch.where(pick[..., None], s, new_size)
            new_ok = torch.where(pick, o & ok, new_ok)
        cells, size, ok = new_cells, new_size, new_ok
    return cells, size, ok


def program_text(program: list[int], names: list[str]) -> str:
    """Host helper: op ids -> 'op1 | op2' (identity steps omitted)."""
    ops = [names[i] for i in program if i != 0]
    return " | ".join(ops) if ops else "identity"
