"""Batched padded grids: the one representation every DSL primitive reads and writes.

A batch of grids is ``cells [N, s, s]`` (colours 0..9, ``PAD`` outside the grid) and ``size [N, 2]`` (long, rows h
and columns w, 1..s). ``s``, the canvas side, is 30 (``S``, the largest ARC grid) unless a caller packs small
tasks on a smaller canvas (the search engine buckets tasks by size); every function reads it from its tensors'
shapes, so one code path serves every canvas. The content sits at the top-left corner: cell (i, j) is inside when
``i < h and j < w``. Every function here is sync-free: shapes are fixed, decisions are masks.
"""
from __future__ import annotations

import torch
from torch import Tensor

S = 30          # largest grid side (the default canvas)
PAD = 10        # pad token, distinct from colours 0..9
N_COLOURS = 10
BG = 0          # background colour


def side(x: Tensor) -> int:
    """Canvas side of a grid tensor [..., s, s]."""
    return x.shape[-1]


def coords(s: int, device) -> tuple[Tensor, Tensor]:
    """Row and column index grids on an s x s canvas, each [s, s]."""
    r = torch.arange(s, device=device)
    return r.view(s, 1).expand(s, s), r.view(1, s).expand(s, s)


def inside(size: Tensor, s: int = S) -> Tensor:
    """[N, s, s] bool: which cells lie inside each grid of sizes ``size [N, 2]`` on an s x s canvas (30 x 30 unless
    given; a mask of the wrong canvas fails to broadcast against the cells, so a missed side cannot go unnoticed)."""
    r = torch.arange(s, device=size.device)
    return (r.view(1, s, 1) < size[:, 0, None, None]) & (r.view(1, 1, s) < size[:, 1, None, None])  # one full pass


def repad(cells: Tensor, size: Tensor) -> Tensor:
    """Write PAD outside each grid; returns a new tensor."""
    return torch.where(inside(size, side(cells)), cells, PAD)


def size_ok(size: Tensor, s: int) -> Tensor:
    """[N] bool: 1 <= h, w <= s."""
    return ((size >= 1) & (size <= s)).all(-1)


def clamp_size(size: Tensor, s: int) -> Tensor:
    """Sizes clamped into 1..s (pair with ``size_ok`` of the unclamped size to flag overflow)."""
    return size.clamp(1, s)


def remap(cells: Tensor, src_r: Tensor, src_c: Tensor, take: Tensor, fill: int | Tensor = PAD) -> Tensor:
    """Generic gather: ``out[n, i, j] = cells[n, src_r[n, i, j], src_c[n, i, j]]`` where ``take``, else ``fill``.

    ``src_r``/``src_c``/``take`` are [N, s, s] (or broadcastable); indices outside 0..s-1 are clamped
    before the gather, so mask them out with ``take``.
    """
    n, s = cells.shape[0], side(cells)
    src_r = src_r.expand(n, s, s).clamp(0, s - 1)
    src_c = src_c.expand(n, s, s).clamp(0, s - 1)
    flat = (src_r * s + src_c).reshape(n, s * s)
    out = cells.reshape(n, s * s).gather(1, flat).view(n, s, s)
    return torch.where(take, out, fill)


def crop(cells: Tensor, top: Tensor, left: Tensor, h: Tensor, w: Tensor) -> tuple[Tensor, Tensor]:
    """Crop the window (top, left, h, w) (each [N]) to the top-left corner. Returns (cells, size)."""
    rows, cols = coords(side(cells), cells.device)
    size = torch.stack([h, w], -1)
    take = inside(size, side(cells))
    out = remap(cells, rows + top[:, None, None], cols + left[:, None, None], take)
    return out, size


def colour_counts(cells: Tensor, size: Tensor | None = None) -> Tensor:
    """[N, 10] number of cells of each colour inside each grid (PAD ignored)."""
    n = cells.shape[0]
    onehot_src = cells.reshape(n, -1).long().clamp(max=N_COLOURS)  # PAD -> bucket 10, dropped below
    counts = torch.zeros(n, N_COLOURS + 1, dtype=torch.long, device=cells.device)
    counts.scatter_add_(1, onehot_src, torch.ones_like(onehot_src))
    return counts[:, :N_COLOURS]


def bbox(mask: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Bounding box of ``mask [N, s, s]``: (top, left, h, w, nonempty), each [N].

    Empty masks give a 1x1 box at (0, 0) with ``nonempty`` False.
    """
    idx = torch.arange(side(mask), device=mask.device)
    rows_any = mask.any(2)  # [N, s]
    cols_any = mask.any(1)
    big = side(mask)
    top = torch.where(rows_any, idx, big).amin(1)
    bottom = torch.where(rows_any, idx, -1).amax(1)
    left = torch.where(cols_any, idx, big).amin(1)
    right = torch.where(cols_any, idx, -1).amax(1)
    nonempty = rows_any.any(1)
    top = torch.where(nonempty, top, 0)
    left = torch.where(nonempty, left, 0)
    h = torch.where(nonempty, bottom - top + 1, 1)
    w = torch.where(nonempty, right - left + 1, 1)
    return top, left, h, w, nonempty
