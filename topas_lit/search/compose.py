"""Answers composed of several searched states (icecuber's greedy composition, on the device, no host reads).

A *piece* is a state the search reached (the root included) whose grids have the demo outputs' sizes on every demo
slot. The engine keeps, per task, the ``pieces`` best pieces by closeness to the demo outputs, distinct by their key
(``piece_key``: test-slot grids and closeness), taken over every child, so the pool is the same whatever the
expansion chunks and calls (docs/PERFORMANCE.md, the pool of pieces over all children). A composition overlays up to
``steps`` pieces, each through one of three masks of its own cells: its non-background cells, its background cells,
or all its cells. Greedily, each step takes the (piece, mask) that writes the most demo-output cells not yet
written, among those that write no wrong cell on any demo slot; a cell keeps the first value written. A composition
of two or more pieces whose writes cover every demo-output cell reproduces every demo output; its test-slot overlay
(background where no piece writes) is an answer. The same overlay runs on the test slots, so the answer needs no
host-side decision.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from topas_lit.modules.dsl.grid import PAD, inside
from topas_lit.modules.dsl.program import take, top
from topas_lit.search.hashing import NEG, count_cells, dedupe, words
from topas_lit.search.pack import Packed

MASKS = 3    # per piece: its non-background cells, its background cells, all its cells
KEY_MIX = 0x5851F42D4C957F2D   # odd multiplier of the test-slot fingerprint in a piece's key


@dataclass
class Pieces:
    """Up to P pieces per task (-inf score = empty slot)."""

    score: Tensor    # [T, P] closeness to the demo outputs
    key: Tensor      # [T, P] int64 ``piece_key``: pieces with equal keys are one piece
    cells: Tensor    # [T, P, G, s, s] uint8
    size: Tensor     # [T, P, G, 2]
    program: Tensor  # [T, P, depth]

    def fields(self):
        return self.score, self.key, self.cells, self.size, self.program

    def best(self, p: int) -> "Pieces":
        """The best ``p`` pieces of distinct keys (ties: the earlier entry). On a chunk's children this is exact
        over the whole chunk, so merging chunk after chunk gives the best ``p`` of all children, however the
        children fall into chunks."""
        score, idx = top(dedupe(self.key, self.score), p)
        return Pieces(score, *[take(x, idx) for x in self.fields()[1:]])

    def merge(self, other: "Pieces", p: int) -> "Pieces":
        return Pieces(*[torch.cat([x, y], 1) for x, y in zip(self.fields(), other.fields())]).best(p)


def piece_key(test_fp: Tensor, score: Tensor) -> Tensor:
    """[T, C] int64 key of states: their test-slot fingerprint (``Hasher`` over the test slots) and the bits of their
    closeness. The same grids give the same key in any chunk or call (the closeness is summed slot by slot); two
    states that differ only on the demo slots but are equally close there are one piece (hashing every child's demo
    slots would cost about as much as the closeness pass itself)."""
    return test_fp * KEY_MIX + score.float().view(torch.int32).long()


def piece_score(closeness: Tensor, size: Tensor, alive: Tensor, packed: Packed) -> Tensor:
    """[T, C] pool score of states (NEG where not a piece): ``closeness`` (the engine's progress in [0, 2]) of the
    states whose sizes equal the demo outputs' on every demo slot."""
    same = (size == packed.target_size[:, None]).all(-1) | ~packed.has_target[:, None]      # [T, C, G]
    return closeness.masked_fill(~(alive & same.all(-1)), NEG)


def any_cell(x: Tensor) -> Tensor:
    """Any true cell of bool grids [..., D, s, s] -> [...] bool (4 cells at a time)."""
    return words(x.view(torch.uint8)).flatten(-2).amax(-1) > 0


def compose(pieces: Pieces, packed: Packed, steps: int) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Greedy composition per task -> (ok [T], used [T] pieces, cells [T, Q, s, s] uint8 test-slot answers,
    size [T, Q, 2], parts [T, steps, depth]: the programs of the pieces in overlay order, 0 after the last). The
    gains of the three masks come from two masked counts (non-background cells, all cells) over the demo slots."""
    t, p, g, s = pieces.cells.shape[:4]
    d = packed.n_demo
    pc = pieces.cells
    demo = pc[:, :, :d]
    inside_d = demo != PAD
    nonzero_d = inside_d & (demo != 0)
    bad = demo != packed.target[:, None, :d]                                                # [T, P, D, s, s]
    need = (packed.target[:, :d] != PAD) & packed.has_target[:, :d, None, None]             # [T, D, s, s]
    covered = ~need                  # demo-output cells written so far (everything else counts as covered)
    written = torch.zeros(t, g, s, s, dtype=torch.bool, device=pc.device)                  # the overlay's cells
    out = torch.zeros(t, g, s, s, dtype=torch.uint8, device=pc.device)
    real = pieces.score > NEG                                                               # [T, P]
    test_size = pieces.size[:, :, d:]                                                       # [T, P, Q, 2]
    first_size = test_size[:, 0]          # the answer's test sizes: the first chosen piece's (set at step 0)
    parts = []
    used = torch.zeros(t, dtype=torch.long, device=pc.device)
    for step in range(steps):
        free_all = inside_d & ~covered[:, None]
        free_nz = nonzero_d & ~covered[:, None]
        gain_all, gain_nz = count_cells(free_all).sum(-1), count_cells(free_nz).sum(-1)
        wrong_all = free_all & bad
        wrong = torch.stack([any_cell(free_nz & bad), any_cell(wrong_all & ~nonzero_d), any_cell(wrong_all)], -1)
        gain = torch.stack([gain_nz, gain_all - gain_nz, gain_all], -1)                   # [T, P, 3]
        usable = real[..., None] & ~wrong
        if step:
            usable = usable & (test_size == first_size[:, None]).all(-1).all(-1)[..., None]
        best_gain, idx = top(gain.masked_fill(~usable, 0).flatten(1).float(), 1)           # first of the best
        has = best_gain[:, 0] > 0                                                          # [T]
        piece, mask = idx // MASKS, idx % MASKS                                            # [T, 1]
        if step == 0:
            first_size = take(test_size, piece)[:, 0]
        parts.append(take(pieces.program, piece)[:, 0] * has[:, None])
        cells = take(pc, piece)[:, 0]                                                      # [T, G, s, s]
        real_cell = cells != PAD
        nonzero = real_cell & (cells != 0)
        m = mask.view(t, 1, 1, 1)
        active = torch.where(m == 0, nonzero, torch.where(m == 1, real_cell & ~nonzero, real_cell))
        w = active & ~written & has[:, None, None, None]
        out = torch.where(w, cells, out)
        written = written | w
        covered = covered | w[:, :d]
        used = used + has.long()
    ok = covered.flatten(1).all(-1) & (used >= 2)
    inn = inside(first_size.reshape(-1, 2), s).view(t, g - d, s, s)
    cells = torch.where(inn, out[:, d:], PAD).to(torch.uint8)
    return ok, used, cells, first_size, torch.stack(parts, 1)
