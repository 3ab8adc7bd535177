"""Lookup primitives: outputs chosen among the demo outputs by a property of the input (counting- and
classification-driven tasks: "the input's colour picks the pattern", "symmetric inputs give a 1, others a 7").

Each primitive computes a key per grid (its majority colour, its number of colours or objects, the shape of its
non-background cells, its mirror symmetries); a grid's output is the output of the first demo whose input has the
same key. A candidate is not ok where two demos share a key but not an output, where no two demos share a key (the
key would fit by rote), or a grid's key no demo has.
"""
from __future__ import annotations

import torch
from torch import Tensor

from topas_lit.modules.dsl.colour import nonbg_counts, per_slot, register, top_colour
from topas_lit.modules.dsl.components import _mix, components
from topas_lit.modules.dsl.geometry import dihedral
from topas_lit.modules.dsl.grid import BG, S, bbox, crop
from topas_lit.modules.dsl.registry import DemoTargets, GridBatch

FAMILY = "lookup"


def by_key(g: GridBatch, demos: DemoTargets, key: Tensor, known: Tensor):
    """Output of each grid = the target of the first demo slot of its candidate with the same ``key [N]`` (int64);
    ``known [N]``: the key is defined for that grid."""
    m, gs = demos.has_target.shape
    s = g.side
    k = key.view(m, gs)
    has = demos.has_target & known.view(m, gs)
    same = (k[:, :, None] == k[:, None, :]) & has[:, None, :]                        # [M, G (grid), G (demo)]
    first = same.long().argmax(2)                                                    # [M, G]
    found = same.any(2) & known.view(m, gs)
    tgt = demos.target.reshape(m, gs, -1)
    weight = _mix(torch.arange(s * s, device=key.device), 1103515245)                 # 31-bit, per cell
    tid = ((tgt.long() + 1) * weight).sum(-1) * 961 + demos.target_size[..., 0] * 31 + demos.target_size[..., 1]
    pair = same & has[:, :, None]                                                    # two demos, one key
    consistent = ~(pair & (tid[:, :, None] != tid[:, None, :])).any(2).any(1)      # [M]
    # evidence that the key decides the output: two distinct demos share a key (and so an output); without it any
    # key that differs between all demos would "fit" by rote
    other = ~torch.eye(gs, dtype=torch.bool, device=key.device)
    consistent = consistent & (pair & other).flatten(1).any(1)
    cells = tgt.gather(1, first[..., None].expand(m, gs, tgt.shape[-1])).reshape(m * gs, s, s)
    size = demos.target_size.gather(1, first[..., None].expand(m, gs, 2)).reshape(m * gs, 2)
    ok = found.reshape(-1) & per_slot(consistent & has.any(1), gs)
    return cells.to(g.cells.dtype), size, ok


@register("output_by_colour_fit", FAMILY, fitted=True)
def output_by_colour_fit(g: GridBatch, demos: DemoTargets):
    """The demo output whose input has the same most common non-background colour."""
    colour, unique = top_colour(nonbg_counts(g))
    return by_key(g, demos, colour, unique)


@register("output_by_colour_count_fit", FAMILY, fitted=True)
def output_by_colour_count_fit(g: GridBatch, demos: DemoTargets):
    """The demo output whose input has as many distinct non-background colours."""
    return by_key(g, demos, (nonbg_counts(g) > 0).sum(1), g.size[:, 0] > 0)


@register("output_by_object_count_fit", FAMILY, fitted=True)
def output_by_object_count_fit(g: GridBatch, demos: DemoTargets):
    """The demo output whose input has as many objects (8-connected, one colour)."""
    return by_key(g, demos, components(g).n_obj.long(), g.size[:, 0] > 0)


@register("output_by_shape_fit", FAMILY, fitted=True)
def output_by_shape_fit(g: GridBatch, demos: DemoTargets):
    """The demo output whose input's non-background cells form the same shape (up to translation; colours
    ignored)."""
    fg = g.inside & (g.cells != BG)
    top, left, h, w, nonempty = bbox(fg)
    shape, _ = crop(fg.to(torch.uint8), top, left, h, w)                             # the mask at the top-left
    s = g.side
    pos = torch.arange(s, device=fg.device)
    weight = _mix(pos[:, None] * S + pos[None, :], 2654435761)                       # canvas-independent weights
    key = ((shape == 1).long() * weight).flatten(1).sum(1) * 961 + h * 31 + w
    return by_key(g, demos, key, nonempty)


@register("output_by_symmetry_fit", FAMILY, fitted=True)
def output_by_symmetry_fit(g: GridBatch, demos: DemoTargets):
    """The demo output whose input has the same mirror symmetries (left-right, up-down)."""
    lr = (dihedral(g.cells, g.size, False, False, True)[0] == g.cells).flatten(1).all(1)
    ud = (dihedral(g.cells, g.size, False, True, False)[0] == g.cells).flatten(1).all(1)
    return by_key(g, demos, lr.long() * 2 + ud.long(), g.size[:, 0] > 0)
