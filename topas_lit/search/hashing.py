"""State fingerprints and semantic dedupe, on the device.

A state's fingerprint is a 64-bit hash of its grids on every real slot (demo inputs and test inputs): two
programs that produce the same grids everywhere get the same fingerprint, so the search keeps one of them
(semantics, not syntax). Grids are uint8 with PAD outside the grid, so equal cells imply equal sizes.

The hash reads 4 cells at a time (a uint8 canvas viewed as int32 words, which is why canvases have an even side)
and is linear in those words with random odd 64-bit weights per (slot, word), wrapping mod 2^64: a difference in
one word never collides; differences in several collide with probability about 2^-64.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from topas_lit.modules.dsl.grid import S

NEG = float("-inf")
MAX_SLOTS = 64


def words(cells: Tensor) -> Tensor:
    """uint8 grids [..., s, s] -> int32 words [..., s*s/4] (a view when contiguous)."""
    s = cells.shape[-1]
    if (s * s) % 4:
        raise ValueError(f"canvas side {s}: s*s must be a multiple of 4 (use an even side)")
    return cells.contiguous().view(*cells.shape[:-2], s * s).view(torch.int32)


def count_cells(mask: Tensor) -> Tensor:
    """True cells per grid of bool grids [..., s, s] -> [...] int64, read 4 cells at a time (a sum of bools is
    several times slower): each byte lane of a grid's word sum counts at most s*s/4 <= 225 cells, so lanes never
    carry."""
    w = words(mask.view(torch.uint8)).sum(-1)
    return (w & 255) + (w >> 8 & 255) + (w >> 16 & 255) + (w >> 24 & 255)


class Hasher(nn.Module):
    """Random odd int64 weights per slot and per 4-cell word (for the largest canvas; smaller canvases use a
    prefix). forward(cells [..., G, s, s] uint8, use [..., G] or [G] bool) -> [...] int64."""

    def __init__(self, seed: int = 1234):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        w = torch.randint(-(2**62), 2**62, (MAX_SLOTS, S * S // 4), generator=g, dtype=torch.long) * 2 + 1
        self.register_buffer("weight", w, persistent=False)

    def per_slot(self, cells: Tensor, first_slot: int = 0) -> Tensor:
        """[..., G, s, s] uint8 (slots ``first_slot`` onwards of a task) -> [..., G] int64: each slot's share of
        the hash (the same as when hashing all slots)."""
        g = first_slot + cells.shape[-3]
        if g > MAX_SLOTS:
            raise ValueError(f"a task has {g} slots (demos + test inputs); the search supports at most {MAX_SLOTS}")
        x = words(cells).long()                                        # [..., G, s*s/4]
        return (x * self.weight[first_slot:g, : x.shape[-1]]).sum(-1)  # wraps mod 2^64: fine for a hash

    @staticmethod
    def combine(per_slot: Tensor, use: Tensor) -> Tensor:
        """Hash over the slots in ``use`` (broadcastable to per_slot's shape) -> [...]."""
        return (per_slot * use.long()).sum(-1)

    def forward(self, cells: Tensor, use: Tensor) -> Tensor:
        return self.combine(self.per_slot(cells), use)


def best_of_each(fp: Tensor, rank: Tensor) -> Tensor:
    """[B, M] bool: True for the best-ranked entry of each fingerprint (ties: the earlier entry). fp, rank [B, M]."""
    order = rank.argsort(dim=-1, descending=True, stable=True)
    regroup = fp.gather(1, order).argsort(dim=-1, stable=True)           # equal fps together, best first
    idx = order.gather(1, regroup)
    grouped = fp.gather(1, idx)
    first = torch.cat([torch.ones_like(grouped[:, :1], dtype=torch.bool), grouped[:, 1:] != grouped[:, :-1]], 1)
    return torch.zeros_like(first).scatter(1, idx, first)


def dedupe(fp: Tensor, rank: Tensor, seen: Tensor | None = None) -> Tensor:
    """``rank`` with -inf on every entry that repeats a better entry's fingerprint or one of ``seen [B, K]``."""
    if seen is not None:
        k = seen.shape[1]
        fp = torch.cat([seen, fp], 1)
        rank = torch.cat([torch.full(seen.shape, float("inf"), device=rank.device, dtype=rank.dtype), rank], 1)
        return rank[:, k:].masked_fill(~best_of_each(fp, rank)[:, k:], NEG)
    return rank.masked_fill(~best_of_each(fp, rank), NEG)
