"""Nearest-colour primitives: cells take the colour of the nearest cell of another colour (city-block distance).

The distance and the nearest colours come from one propagation on the device: every cell holds the key
``distance * 16 + colour`` of its best source, and each step takes the better of its own key and its four
neighbours' keys one step further (four shifted views of one padded copy; int16 keys). Two keys travel side by side,
one preferring the lowest colour at the nearest distance and one the highest: where they agree, the nearest colour
is unique; where they differ, the cell is a tie. ``2 s - 2`` steps reach every cell of an s x s canvas (the grid
sits at the top-left corner, so no path through the cells outside it is shorter than one inside).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from topas_lit.modules.dsl.colour import changed, register
from topas_lit.modules.dsl.components import fit_table, per_slot, same_size_all, target_cells
from topas_lit.modules.dsl.grid import BG
from topas_lit.modules.dsl.registry import DemoTargets, GridBatch

FAMILY = "nearest"
_FAR = 4096          # the key of a cell no source has reached (> any reachable key: 58 * 16 + 15)


def nearest_colour(g: GridBatch, source: Tensor) -> tuple[Tensor, Tensor]:
    """For every cell, the colour of the nearest ``source [N, s, s]`` cell (city-block distance) -> (colour
    [N, s, s] long, unique [N, s, s] bool: some source reached the cell and every nearest source has that colour)."""
    colour = g.cells.long()
    lo = torch.where(source, colour, _FAR)                             # lowest colour first at equal distance
    hi = torch.where(source, 15 - colour, _FAR)                        # highest colour first
    key = torch.stack([lo, hi], 1).to(torch.int16)                     # [N, 2, s, s]
    for _ in range(2 * g.side - 2):
        p = F.pad(key, (1, 1, 1, 1), value=_FAR)
        near = torch.minimum(torch.minimum(p[..., 1:-1, :-2], p[..., 1:-1, 2:]),
                             torch.minimum(p[..., :-2, 1:-1], p[..., 2:, 1:-1]))
        key = torch.minimum(key, near + 16)
    key = key.long()
    c_lo, c_hi = key[:, 0] % 16, 15 - key[:, 1] % 16
    return c_lo, (key[:, 0] < _FAR) & (c_lo == c_hi)


@register("recolour_by_nearest_fit", FAMILY, fitted=True)
def recolour_by_nearest_fit(g: GridBatch, demos: DemoTargets):
    """Every cell of a fitted colour (the one colour the demos change; background allowed) takes the colour of
    the nearest non-background cell of another colour; a tie between two colours at the nearest distance is not
    ok (no guess)."""
    tgt, same = target_cells(g, demos)
    n = tgt.shape[0]
    moved = g.inside & (g.cells != tgt) & same[:, None, None]           # demo cells the outputs change
    table, seen, fit_ok = fit_table(torch.zeros_like(tgt).reshape(n, -1), g.cells.reshape(n, -1),
                                    moved.reshape(n, -1), demos, 1)
    x = per_slot(table[:, 0], demos.slots)                            # [N]: the colour that is recoloured
    fit_ok = per_slot(fit_ok & seen[:, 0], demos.slots)
    target = g.inside & (g.cells == x[:, None, None])
    source = g.inside & (g.cells != BG) & ~target
    colour, unique = nearest_colour(g, source)
    out = torch.where(target, colour.to(g.cells.dtype), g.cells)
    ok = fit_ok & (unique | ~target).flatten(1).all(1) & same_size_all(g, demos)
    return out, g.size, ok & changed(g.cells, out, demos.slots)
