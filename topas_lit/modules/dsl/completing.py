"""Completing primitives: a grid finished by a regularity it almost has: the background under empty k x k squares
marked, the grid mirrored four-fold about a marker.
"""
from __future__ import annotations

import torch
from torch import Tensor

from topas_lit.modules.dsl.colour import changed, paint_fit, register, shift
from topas_lit.modules.dsl.components import fit_choice
from topas_lit.modules.dsl.grid import BG, N_COLOURS, bbox, coords, remap
from topas_lit.modules.dsl.painting import bg_of, fg_of
from topas_lit.modules.dsl.registry import DemoTargets, GridBatch

FAMILY = "completing"


# ----------------------------------------------------------------------------------------------- empty squares
def empty_squares(g: GridBatch, k: int) -> Tensor:
    """[N, s, s] bool: background cells inside some k x k square of background cells (separable: a run of k along
    the row, then k such runs down the column; the cover spread back the same way)."""
    bg = bg_of(g)
    run = bg
    for d in range(1, k):
        run = run & shift(bg, 0, d, False)
    corner = run                                  # the k x k square with its top-left corner here is empty
    for d in range(1, k):
        corner = corner & shift(run, d, 0, False)
    row_cover = corner
    for d in range(1, k):
        row_cover = row_cover | shift(corner, 0, -d, False)
    cover = row_cover
    for d in range(1, k):
        cover = cover | shift(row_cover, -d, 0, False)
    return cover


@register("fill_empty_squares_fit", FAMILY, fitted=True)
def fill_empty_squares_fit(g: GridBatch, demos: DemoTargets):
    """The background cells covered by an all-background k x k square (k = 2, 3 or 4, fitted) -> a fitted
    colour."""
    masks = torch.stack([empty_squares(g, k) for k in (2, 3, 4)], 1)          # [N, 3, s, s]

    def make(opt, fit_ok=True):  # opt [N]: index of k
        mask = masks.gather(1, opt[:, None, None, None].expand(-1, 1, *masks.shape[2:]))[:, 0]
        cells, size, ok = paint_fit(g, demos, mask)
        return cells, size, ok & fit_ok

    opt, ok = fit_choice(demos, masks.shape[1], make)
    return make(opt, ok)


# ----------------------------------------------------------------------------------------------- four-fold mirror
def _mirror4(g: GridBatch, centre: Tensor) -> tuple[Tensor, Tensor]:
    """The grid with its non-background cells mirrored left-right, up-down and both about the centre of the
    bounding box of ``centre [N, s, s]`` (a half-integer centre allowed); mirrored cells fill background only (the
    original, then the left-right, up-down and point mirror win in that order). -> (cells, ok: the box exists)."""
    top, left, h, w, some = bbox(centre)
    r2, c2 = (2 * top + h - 1)[:, None, None], (2 * left + w - 1)[:, None, None]   # doubled centre coordinates
    rows, cols = coords(g.side, g.cells.device)
    fg = fg_of(g)
    out = g.cells
    for mr, mc in ((False, True), (True, False), (True, True)):
        src_r = r2 - rows if mr else rows.expand_as(g.cells)
        src_c = c2 - cols if mc else cols.expand_as(g.cells)
        valid = (src_r >= 0) & (src_r < g.size[:, :1, None]) & (src_c >= 0) & (src_c < g.size[:, 1:, None])
        take = valid & g.inside & (out == BG)
        cand = remap(g.cells, src_r, src_c, take, BG)
        out = torch.where(take & (remap(fg, src_r, src_c, take, False)), cand, out)
    return out, some


@register("mirror4_about_colour_fit", FAMILY, fitted=True)
def mirror4_about_colour_fit(g: GridBatch, demos: DemoTargets):
    """Every non-background cell mirrored four-fold about the centre of the cells of a marker colour fitted from
    the demos (a 2 x 2 block, a cross): a fixed colour, or the grid's least or most common non-background
    colour."""
    counts = g.counts.clone()
    counts[:, BG] = 0
    least = torch.where(counts > 0, counts, counts.amax(1, keepdim=True) + 1).argmin(1)
    most = counts.argmax(1)

    def make(k, fit_ok=True):  # k [N]: colour - 1 (0..8), 9: the least common colour, 10: the most common
        colour = torch.where(k == 9, least, torch.where(k == 10, most, k + 1))
        out, some = _mirror4(g, g.inside & (g.cells == colour[:, None, None]))
        return out, g.size, some & fit_ok & changed(g.cells, out, demos.slots)

    k, ok = fit_choice(demos, N_COLOURS + 1, make)
    return make(k, ok)
