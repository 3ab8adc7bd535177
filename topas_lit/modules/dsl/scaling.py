"""Scaling primitives: block up/down-scaling, tilings (plain, mirrored, rotated) and self-similar (Kronecker) grids.

All but the block majority (a scatter) are one gather (``remap``) from index maps computed from the sizes;
fitted factors come from the demo output/input size ratios (``fit_ratio``) and must agree over all demos.
"""
from __future__ import annotations

import torch
from torch import Tensor

from topas_lit.modules.dsl.geometry import first_demo, fit_match, fit_ratio, per_grid, pick_first
from topas_lit.modules.dsl.grid import BG, N_COLOURS, PAD, coords, inside, remap, side
from topas_lit.modules.dsl.registry import DemoTargets, GridBatch, primitive, view_slots

FAM = "scaling"


# ----------------------------------------------------------------------------------------------- helpers
def _col(x: Tensor) -> Tensor:
    """[N] -> [N, 1, 1] for broadcasting against cell maps."""
    return x[:, None, None]


def upscale(cells: Tensor, size: Tensor, f: Tensor) -> tuple[Tensor, Tensor]:
    """Each cell becomes an fy x fx block (``f [N, 2]``)."""
    rows, cols = coords(side(cells), cells.device)
    f = f.clamp(min=1)
    out_size = size * f
    return remap(cells, rows // _col(f[:, 0]), cols // _col(f[:, 1]), inside(out_size, side(cells))), out_size


def tile(cells: Tensor, size: Tensor, reps: Tensor, phase: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Repeat the grid ry x rx times (``reps [N, 2]``). With ``phase [N, 2]`` (0/1), tile (ti, tj) is mirrored
    up-down when ti + phase_r is odd and left-right when tj + phase_c is odd."""
    rows, cols = coords(side(cells), cells.device)
    h, w = _col(size[:, 0]), _col(size[:, 1])
    r, c = rows % h, cols % w
    if phase is not None:
        fr = ((rows // h + _col(phase[:, 0])) % 2) == 1
        fc = ((cols // w + _col(phase[:, 1])) % 2) == 1
        r, c = torch.where(fr, h - 1 - r, r), torch.where(fc, w - 1 - c, c)
    out_size = size * reps.clamp(min=1)
    return remap(cells, r, c, inside(out_size, side(cells))), out_size


def _const(n: int, a: int, b: int, device) -> Tensor:
    return torch.stack([torch.full((n,), a, device=device), torch.full((n,), b, device=device)], 1)


def _ok(g: GridBatch) -> Tensor:
    return g.size[:, 0] > 0


# ----------------------------------------------------------------------------------------------- up / down scaling
@primitive("upscale_fit", FAM, fitted=True)
def upscale_fit(g: GridBatch, demos: DemoTargets):
    """Each cell becomes an fy x fx block; integer factors fitted from the demo output/input size ratios."""
    G = demos.slots
    f, ok = fit_ratio(demos.target_size, view_slots(g.size, G), demos)
    cells, size = upscale(g.cells, g.size, per_grid(f, G))
    return cells, size, per_grid(ok & (f > 1).any(-1), G)


@primitive("upscale_ncol", FAM)
def upscale_ncol(g: GridBatch):
    """Upscale by a factor equal to the number of distinct non-background colours (needs at least 2)."""
    k = (g.counts[:, 1:] > 0).sum(1)
    cells, size = upscale(g.cells, g.size, k[:, None].expand(-1, 2))
    return cells, size, k >= 2


@primitive("resize_fit", FAM, fitted=True)
def resize_fit(g: GridBatch, demos: DemoTargets):
    """Upscale every grid to the one output size all demo outputs share (per-grid integer factors)."""
    G = demos.slots
    t = first_demo(demos.target_size, demos)                                  # [M, 2]
    same = ((demos.target_size == t[:, None]).all(-1) | ~demos.has_target).all(1)
    t = per_grid(t, G)
    f = t // g.size
    ok = per_grid(same, G) & (t % g.size == 0).all(-1) & (f > 1).any(-1)
    cells, size = upscale(g.cells, g.size, f)
    return cells, size, ok


def _block_counts(cells: Tensor, f: Tensor) -> Tensor:
    """[N, s*s, 10] colour counts of each fy x fx block (block index (i // fy) * s + j // fx); PAD not counted."""
    n, s = cells.shape[0], side(cells)
    rows, cols = coords(s, cells.device)
    f = f.clamp(min=1)
    blk = ((rows // _col(f[:, 0])) * s + cols // _col(f[:, 1])).reshape(n, s * s, 1)
    onehot = (cells.reshape(n, s * s, 1) == torch.arange(N_COLOURS, device=cells.device)).long()
    out = torch.zeros(n, s * s, N_COLOURS, dtype=torch.long, device=cells.device)
    return out.scatter_add_(1, blk.expand(-1, -1, N_COLOURS), onehot)


@primitive("downscale_fit", FAM, fitted=True)
def downscale_fit(g: GridBatch, demos: DemoTargets):
    """Each fy x fx block becomes one cell of its majority colour (ties: smaller colour); factors fitted from the
    demo input/output size ratios."""
    G = demos.slots
    f, ok = fit_ratio(view_slots(g.size, G), demos.target_size, demos)
    f = per_grid(f, G).clamp(min=1)
    ok = per_grid(ok, G) & (f > 1).any(-1) & (g.size % f == 0).all(-1)
    out = _block_counts(g.cells, f).argmax(-1).view(-1, g.side, g.side)
    return out, g.size // f, ok


# ----------------------------------------------------------------------------------------------- tilings
@primitive("tile_fit", FAM, fitted=True)
def tile_fit(g: GridBatch, demos: DemoTargets):
    """Repeat the grid ry x rx times; the tiling fitted from the demo output/input size ratios."""
    G = demos.slots
    r, ok = fit_ratio(demos.target_size, view_slots(g.size, G), demos)
    cells, size = tile(g.cells, g.size, per_grid(r, G))
    return cells, size, per_grid(ok & (r > 1).any(-1), G)


@primitive("mirror_tile_fit", FAM, fitted=True)
def mirror_tile_fit(g: GridBatch, demos: DemoTargets):
    """Tile ry x rx with alternate tiles mirrored (like [g, fliplr g; flipud g, rot180 g]); the tiling comes from
    the size ratios and which tile parity holds the unflipped grid is fitted on the demos."""
    G = demos.slots
    r, ok = fit_ratio(demos.target_size, view_slots(g.size, G), demos)
    r = per_grid(r, G)
    n, dev = len(g), g.cells.device
    phases = [(0, 0), (0, 1), (1, 0), (1, 1)]
    k, fit = pick_first([fit_match(*tile(g.cells, g.size, r, _const(n, a, b, dev)), demos) for a, b in phases])
    k = per_grid(k, G)
    phase = torch.stack([k // 2, k % 2], 1)  # the order of ``phases``
    cells, size = tile(g.cells, g.size, r, phase)
    return cells, size, per_grid(ok & fit, G) & (r > 1).any(-1)


@primitive("untile_fit", FAM, fitted=True)
def untile_fit(g: GridBatch, demos: DemoTargets):
    """Keep the top-left 1/ry x 1/rx of the grid (the inverse of tile_fit), ratio fitted from the sizes."""
    G = demos.slots
    r, ok = fit_ratio(view_slots(g.size, G), demos.target_size, demos)
    r = per_grid(r, G).clamp(min=1)
    ok = per_grid(ok, G) & (r > 1).any(-1) & (g.size % r == 0).all(-1)
    return g.cells, g.size // r, ok


def _fixed_tile(name: str, ry: int, rx: int, pr: int, pc: int, doc: str):
    def fn(g: GridBatch):
        n, dev = len(g), g.cells.device
        cells, size = tile(g.cells, g.size, _const(n, ry, rx, dev), _const(n, pr, pc, dev))
        return cells, size, _ok(g)

    fn.__doc__ = doc
    fn.__name__ = name
    primitive(name, FAM)(fn)
    return fn


mirror_tile = _fixed_tile("mirror_tile", 2, 2, 0, 0, "2x2 mirror tiling [g, fliplr g; flipud g, rot180 g].")
mirror_right = _fixed_tile("mirror_right", 1, 2, 0, 0, "Concatenate [g, fliplr g].")
mirror_left = _fixed_tile("mirror_left", 1, 2, 0, 1, "Concatenate [fliplr g, g].")
mirror_down = _fixed_tile("mirror_down", 2, 1, 0, 0, "Stack [g; flipud g].")
mirror_up = _fixed_tile("mirror_up", 2, 1, 1, 0, "Stack [flipud g; g].")


@primitive("tile_rot4", FAM)
def tile_rot4(g: GridBatch):
    """Square grids: 2x2 pinwheel [g, rot90 g; rot270 g, rot180 g] (clockwise rotations)."""
    rows, cols = coords(g.side, g.cells.device)
    n = _col(g.size[:, 0])
    qr, qc = rows // n, cols // n
    a, b = rows % n, cols % n
    # quadrant (0,1): rot90 cw  (n-1-b, a); (1,1): rot180 (n-1-a, n-1-b); (1,0): rot270 (b, n-1-a)
    r = torch.where(qc == 1, n - 1 - torch.where(qr == 1, a, b), torch.where(qr == 1, b, a))
    c = torch.where(qr == 1, n - 1 - torch.where(qc == 1, b, a), torch.where(qc == 1, a, b))
    size = g.size * 2
    return remap(g.cells, r, c, inside(size, g.side)), size, g.size[:, 0] == g.size[:, 1]


# ----------------------------------------------------------------------------------------------- self-similar grids
def _kron(g: GridBatch, where_cell) -> tuple[Tensor, Tensor, Tensor]:
    """h*h x w*w grid: block (bi, bj) is a copy of the grid where ``where_cell(cells)`` holds at (bi, bj), else BG."""
    rows, cols = coords(g.side, g.cells.device)
    h, w = _col(g.size[:, 0]), _col(g.size[:, 1])
    size = g.size * g.size
    inn = inside(size, g.side)
    sel = where_cell(g)
    copy = remap(g.cells, rows % h, cols % w, inn)
    on = remap(sel.long(), rows // h, cols // w, inn, 0) == 1
    return torch.where(on, copy, BG), size, (sel & g.inside).any((1, 2))


@primitive("kron_self", FAM)
def kron_self(g: GridBatch):
    """Fractal: each non-background cell becomes a copy of the whole grid, background cells a background block."""
    return _kron(g, lambda g: g.cells != BG)


@primitive("kron_major", FAM)
def kron_major(g: GridBatch):
    """Fractal: each cell of the grid's most common colour becomes a copy of the grid, others background."""
    return _kron(g, lambda g: g.cells == g.counts.argmax(1)[:, None, None])


@primitive("kron_colour_fit", FAM, fitted=True)
def kron_colour_fit(g: GridBatch, demos: DemoTargets):
    """Fractal: each cell of a fitted colour becomes a copy of the grid, all other cells background blocks.

    The colour is read per demo off the input cell whose block holds the output's first non-background cell and
    must agree over the demos."""
    G = demos.slots
    tgt = demos.target.flatten(0, 1)
    fg = ((tgt != BG) & (tgt != PAD)).flatten(1)
    first = fg.long().argmax(1)                                           # [N] first foreground output cell
    s = g.side
    r, c = first // s // g.size[:, 0], first % s // g.size[:, 1]
    col = g.cells.flatten(1).gather(1, (r * s + c).clamp(max=s * s - 1)[:, None])[:, 0]
    col0 = first_demo(view_slots(col, G), demos)
    good = (col == per_grid(col0, G)) & fg.any(1) & (demos.target_size.flatten(0, 1) == g.size * g.size).all(1)
    ok = (view_slots(good, G) | ~demos.has_target).all(1)
    cells, size, nonempty = _kron(g, lambda g: g.cells == per_grid(col0, G)[:, None, None])
    return cells, size, per_grid(ok, G) & nonempty
