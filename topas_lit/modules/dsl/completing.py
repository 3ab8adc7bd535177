"""Completing primitives: a grid finished by a regularity it almost has: the background under empty k x k squares
marked, the grid mirrored four-fold about a marker.
"""
from __future__ import annotations

import torch
from torch import Tensor

from topas_lit.modules.dsl.colour import changed, paint_fit, register, shift
from topas_lit.modules.dsl.components import fit_choice, fit_stacked, take_option
from topas_lit.modules.dsl.grid import BG, N_COLOURS, bbox, coords
from topas_lit.modules.dsl.painting import bg_of
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
    bounding box of a mask, for K masks per grid at once (``centre [N, K, s, s]``; a half-integer centre allowed);
    mirrored cells fill background only (the original, then the left-right, up-down and point mirror win in that
    order). -> (cells [N, K, s, s], ok [N, K]: the box exists). Index math in int32 (K x the cells of a call)."""
    n, k, s = centre.shape[0], centre.shape[1], g.side
    top, left, h, w, some = bbox(centre.reshape(-1, s, s))
    i32 = lambda x: x.view(n, k, 1, 1).to(torch.int32)  # noqa: E731
    r2, c2 = i32(2 * top + h - 1), i32(2 * left + w - 1)                         # doubled centre coordinates
    rows, cols = (x.to(torch.int32) for x in coords(s, g.cells.device))
    hh, ww = (g.size[:, i, None, None, None].to(torch.int32) for i in (0, 1))
    out = g.cells[:, None].expand(n, k, s, s)
    for mr, mc in ((False, True), (True, False), (True, True)):
        src_r = r2 - rows if mr else rows
        src_c = c2 - cols if mc else cols
        take = (src_r >= 0) & (src_r < hh) & (src_c >= 0) & (src_c < ww) & g.inside[:, None] & (out == BG)
        idx = (src_r.clamp(0, s - 1) * s + src_c.clamp(0, s - 1)).expand(n, k, s, s).reshape(n, k * s * s)
        cand = g.cells.reshape(n, s * s).gather(1, idx).view(n, k, s, s)   # a taken source lies inside the grid,
        out = torch.where(take & (cand != BG), cand, out)                  # so it is foreground iff not BG
    return out, some.view(n, k)


@register("mirror4_about_colour_fit", FAMILY, fitted=True)
def mirror4_about_colour_fit(g: GridBatch, demos: DemoTargets):
    """Every non-background cell mirrored four-fold about the centre of the cells of a marker colour fitted from
    the demos (a 2 x 2 block, a cross): a fixed colour, or the grid's least or most common non-background
    colour. The 11 options are built side by side and chosen with ``fit_stacked``."""
    counts = g.counts.clone()
    counts[:, BG] = 0
    least = torch.where(counts > 0, counts, counts.amax(1, keepdim=True) + 1).argmin(1)
    most = counts.argmax(1)
    n, dev = len(g), g.cells.device
    colours = torch.cat([torch.arange(1, N_COLOURS, device=dev).expand(n, -1), least[:, None], most[:, None]], 1)
    centre = g.inside[:, None] & (g.cells[:, None] == colours[..., None, None])        # [N, 11, s, s]
    out, some = _mirror4(g, centre)
    ok = some & changed(g.cells, out, demos.slots)                                      # [N, 11]
    size = g.size[:, None].expand(n, colours.shape[1], 2)
    k, fit_ok = fit_stacked(demos, out, size, ok)
    cells, size, ok = take_option(out, size, ok, k)
    return cells, size, ok & fit_ok
