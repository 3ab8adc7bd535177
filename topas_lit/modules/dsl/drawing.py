"""Drawing primitives: rays in several directions at once, each colour's bounding box filled, and empty rows and
columns filled. (Single-direction rays, outlines and fills live in ``painting.py``.)"""
from __future__ import annotations

import torch

from topas_lit.modules.dsl.colour import DIAG, ORTHO, paint_fit, register
from topas_lit.modules.dsl.grid import BG, N_COLOURS, coords
from topas_lit.modules.dsl.painting import _paint, _rays, bg_of, fg_of
from topas_lit.modules.dsl.registry import DemoTargets, GridBatch

FAMILY = "drawing"
LOOK_LEFT, LOOK_RIGHT, LOOK_UP, LOOK_DOWN = (0, -1), (0, 1), (-1, 0), (1, 0)

for _name, _looks, _doc in (
        ("rays_h", (LOOK_LEFT, LOOK_RIGHT), "Every non-background cell casts rays of its colour left and right"),
        ("rays_v", (LOOK_UP, LOOK_DOWN), "Every non-background cell casts rays of its colour up and down"),
        ("rays_orth", ORTHO, "Every non-background cell casts rays of its colour in the 4 orthogonal directions"),
        ("rays_all", ORTHO + DIAG, "Every non-background cell casts rays of its colour in all 8 directions")):
    def _fn(g: GridBatch, looks=_looks):
        return _paint(g, *_rays(g, looks))

    _fn.__name__ = _name
    _fn.__doc__ = _doc + " until an obstacle or the border; a cell reached by several takes the nearest source."
    register(_name, FAMILY)(_fn)


@register("fill_colour_bbox", FAMILY)
def fill_colour_bbox(g: GridBatch):
    """The background inside each colour's bounding box takes that colour (where boxes overlap, the smaller box
    wins; equal boxes: the smaller colour)."""
    s, dev = g.side, g.cells.device
    rows, cols = coords(s, dev)
    colours = torch.arange(1, N_COLOURS, device=dev)
    hit = (g.cells[:, None] == colours[None, :, None, None]) & g.inside[:, None]          # [N, 9, s, s]
    rr, cc = rows.expand_as(hit), cols.expand_as(hit)
    top = torch.where(hit, rr, s).flatten(2).amin(2)[:, :, None, None]
    bottom = torch.where(hit, rr, -1).flatten(2).amax(2)[:, :, None, None]
    left = torch.where(hit, cc, s).flatten(2).amin(2)[:, :, None, None]
    right = torch.where(hit, cc, -1).flatten(2).amax(2)[:, :, None, None]
    box = (rows >= top) & (rows <= bottom) & (cols >= left) & (cols <= right)             # [N, 9, s, s]
    area = ((bottom - top + 1) * (right - left + 1)).clamp(min=0)                        # [N, 9, 1, 1]
    key = torch.where(box, area * N_COLOURS + colours[None, :, None, None], s * s * N_COLOURS * 2)
    best = key.argmin(1)                                                                  # [N, s, s]
    covered = box.any(1) & bg_of(g)
    return _paint(g, covered, torch.where(covered, best + 1, BG))


@register("fill_empty_lines_fit", FAMILY, fitted=True)
def fill_empty_lines_fit(g: GridBatch, demos: DemoTargets):
    """Every row and every column holding only background -> one colour fitted from the demos."""
    fg = fg_of(g)
    empty = ~fg.any(2, keepdim=True) | ~fg.any(1, keepdim=True)
    return paint_fit(g, demos, empty & g.inside)
