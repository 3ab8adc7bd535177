"""Batched padded grids: the one representation every DSL primitive reads and writes.

A batch of grids is ``cells [N, 30, 30]`` (long, colours 0..9, ``PAD`` outside the grid) and ``size [N, 2]``
(long, rows h and columns w, 1..30). The content sits at the top-left corner: cell (i, j) is inside when
``i < h and j < w``. Every function here is sync-free: shapes are fixed, decisions are masks.
"""
from __future__ import annotations

import torch
from torch import Tensor

S = 30          # grid side after padding
PAD = 10        # pad token, distinct from colours 0..9
N_COLOURS = 10
BG = 0          # background colour


def coords(device) -> tuple[Tensor, Tensor]:
    """Row and column index grids, each [30, 30]."""
    r = torch.arange(S, device=device)
    return r.view(S, 1).expand(S, S), r.view(1, S).expand(S, S)


def inside(size: Tensor) -> Tensor:
    """[N, 30, 30] bool: which cells lie inside each grid of sizes ``size [N, 2]``."""
    rows, cols = coords(size.device)
    return (rows < size[:, 0, None, None]) & (cols < size[:, 1, None, None])


def repad(cells: Tensor, size: Tensor) -> Tensor:
    """Write PAD outside each grid; returns a new tensor."""
    return torch.where(inside(size), cells, PAD)


def size_ok(size: Tensor) -> Tensor:
    """[N] bool: 1 <= h, w <= 30."""
    return ((size >= 1) & (size <= S)).all(-1)


def clamp_size(size: Tensor) -> Tensor:
    """Sizes clamped into 1..30 (pair with ``size_ok`` of the unclamped size to flag overflow)."""
    return size.clamp(1, S)


def remap(cells: Tensor, src_r: Tensor, src_c: Tensor, take: Tensor, fill: int | Tensor = PAD) -> Tensor:
    """Generic gather: ``out[n, i, j] = cells[n, src_r[n, i, j], src_c[n, i, j]]`` where ``take``, else ``fill``.

    ``src_r``/``src_c``/``take`` are [N, 30, 30] (or broadcastable); indices outside 0..29 are clamped
    before the gather, so mask them out with ``take``.
    """
    n = cells.shape[0]
    src_r = src_r.expand(n, S, S).clamp(0, S - 1)
    src_c = src_c.expand(n, S, S).clamp(0, S - 1)
    flat = (src_r * S + src_c).reshape(n, S * S)
    out = cells.reshape(n, S * S).gather(1, flat).view(n, S, S)
    return torch.where(take, out, fill)


def crop(cells: Tensor, top: Tensor, left: Tensor, h: Tensor, w: Tensor) -> tuple[Tensor, Tensor]:
    """Crop the window (top, left, h, w) (each [N]) to the top-left corner. Returns (cells, size)."""
    rows, cols = coords(cells.device)
    size = torch.stack([h, w], -1)
    take = inside(size)
    out = remap(cells, rows + top[:, None, None], cols + left[:, None, None], take)
    return out, size


def colour_counts(cells: Tensor, size: Tensor | None = None) -> Tensor:
    """[N, 10] number of cells of each colour inside each grid (PAD ignored)."""
    n = cells.shape[0]
    onehot_src = cells.reshape(n, S * S).clamp(max=N_COLOURS)  # PAD -> bucket 10, dropped below
    counts = torch.zeros(n, N_COLOURS + 1, dtype=torch.long, device=cells.device)
    counts.scatter_add_(1, onehot_src, torch.ones_like(onehot_src))
    return counts[:, :N_COLOURS]


def bbox(mask: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Bounding box of ``mask [N, 30, 30]``: (top, left, h, w, nonempty), each [N].

    Empty masks give a 1x1 box at (0, 0) with ``nonempty`` False.
    """
    idx = torch.arange(S, device=mask.device)
    rows_any = mask.any(2)  # [N, 30]
    cols_any = mask.any(1)
    big = S
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
