"""Object primitives: select, remove, recolour and transform connected components (see ``components.py``).

Objects are 8-connected same-colour components of non-background cells unless a docstring says multicolour
(any non-background cells that touch). Fitted recolourings read each demo object's colour in the demo output
(it must be uniform) and fit a property -> colour table per candidate, applied to every slot.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from topas_lit.modules.dsl.components import (Components, components, enclosed_bg, fit_colour, fit_table, obj_mask,
                                              per_slot, pick, same_size_all, target_cells)
from topas_lit.modules.dsl.grid import BG, PAD
from topas_lit.modules.dsl.registry import DemoTargets, GridBatch, primitive

FAMILY = "objects"
RANKS = 31  # recolour_by_rank_fit: ranks 0..29, 30 = "30th or later"


def _out(g: GridBatch, cells: Tensor, ok: Tensor):
    """A same-size result; the input where not ok."""
    return torch.where(ok[:, None, None], cells, g.cells), g.size, ok


def _keep(g: GridBatch, keep: Tensor, ok: Tensor):
    """Cells in ``keep`` stay, other cells become background."""
    return _out(g, torch.where(keep, g.cells, BG), ok)


def _changed_any(g: GridBatch, out: Tensor, slots: int) -> Tensor:
    """[N]: the output differs from the input in some slot of the grid's candidate."""
    diff = ((out != g.cells) & g.inside).flatten(1).any(1)
    return per_slot(diff.view(-1, slots).any(1), slots)


# ------------------------------------------------------------------------------------------- selection
def _largest(g: GridBatch) -> tuple[Components, Tensor, Tensor]:
    """Components, the largest object's cells [N, s, s] and ok (a unique largest object exists)."""
    c = components(g)
    lab, ok = pick(c, c.count)
    return c, obj_mask(c, lab), ok


@primitive("keep_largest_obj", FAMILY)
def keep_largest_obj(g: GridBatch):
    """Keep only the largest object (unique by cell count); everything else -> background."""
    c, sel, ok = _largest(g)
    return _keep(g, sel, ok)


@primitive("remove_largest_obj", FAMILY)
def remove_largest_obj(g: GridBatch):
    """The largest object (unique by cell count) -> background."""
    c, sel, ok = _largest(g)
    return _keep(g, c.fg & ~sel, ok)


@primitive("remove_singletons", FAMILY)
def remove_singletons(g: GridBatch):
    """Isolated pixels (no non-background cell among their 8 neighbours) -> background."""
    c = components(g, multi=True)
    return _keep(g, c.fg & (c.cell(c.count) > 1), g.size[:, 0] > 0)


@primitive("remove_border_objs", FAMILY)
def remove_border_objs(g: GridBatch):
    """Objects that touch the grid border -> background."""
    c = components(g)
    return _keep(g, c.fg & ~c.cell(c.border, False), c.n_obj > 0)


# ------------------------------------------------------------------------------------------- transforms
def _flip_objs(g: GridBatch, lr: bool):
    """Mirror every multicolour object inside its own bounding box (scatter to the mirrored cell)."""
    c = components(g, multi=True)
    n, s, nc = len(g), g.side, c.ncell
    idx = torch.arange(nc, device=g.cells.device)
    r, col = idx // s, idx % s
    if lr:
        dest = r * s + (c.cell(c.left + c.right).reshape(n, nc) - col)
    else:
        dest = (c.cell(c.top + c.bottom).reshape(n, nc) - r) * s + col
    fg = c.fg.reshape(n, nc)
    dest = torch.where(fg, dest, nc).long()
    out = torch.zeros(n, nc + 1, dtype=g.cells.dtype, device=g.cells.device)
    out = out.scatter_reduce(1, dest, torch.where(fg, g.cells.reshape(n, nc), 0), "amax")[:, :nc]
    out = torch.where(g.inside, out.view(n, s, s), PAD)
    return _out(g, out, c.n_obj > 0)


@primitive("flip_objs_lr", FAMILY)
def flip_objs_lr(g: GridBatch):
    """Flip each multicolour object left-right within its bounding box."""
    return _flip_objs(g, True)


@primitive("flip_objs_ud", FAMILY)
def flip_objs_ud(g: GridBatch):
    """Flip each multicolour object upside down within its bounding box."""
    return _flip_objs(g, False)


def _box_cover(c: Components) -> Tensor:
    """[N, s, s] bool: the cell lies in some object's bounding box (difference array + 2D cumsum)."""
    n, dev, s = c.count.shape[0], c.count.device, c.side
    t, l = c.top.long(), c.left.long()
    b, r = c.bottom.long() + 1, c.right.long() + 1
    w = s + 1
    idx = torch.cat([t * w + l, t * w + r, b * w + l, b * w + r], 1)
    val = c.is_obj.long()
    val = torch.cat([val, -val, -val, val], 1)
    idx = torch.where(torch.cat([c.is_obj] * 4, 1), idx, 0)
    diff = torch.zeros(n, w * w, dtype=torch.long, device=dev).scatter_add_(1, idx, val)
    cover = diff.view(n, w, w).cumsum(1).cumsum(2)[:, :s, :s]
    return cover > 0


@primitive("fill_obj_bbox_fit", FAMILY, fitted=True)
def fill_obj_bbox_fit(g: GridBatch, demos: DemoTargets):
    """Background cells inside any object's bounding box -> one colour fitted from the demos."""
    c = components(g)
    region = _box_cover(c) & g.inside & (g.cells == BG)
    colour, ok = fit_colour(g, demos, region)
    out = torch.where(region, colour[:, None, None], g.cells)
    return _out(g, out, ok & _changed_any(g, out, demos.slots))


# ------------------------------------------------------------------------------------------- recolouring
def _recolour_by(g: GridBatch, demos: DemoTargets, c: Components, key: Tensor, n_keys: int):
    """Recolour every object by a table key -> colour fitted on the demo objects (each uniformly coloured in
    its target). Objects whose key no demo showed make their slot not ok."""
    tgt, same = target_cells(g, demos)
    n = len(g)
    t = tgt.reshape(n, c.ncell).to(torch.int32)
    tmin, tmax = c.scatter(t, "amin", 99), c.scatter(t, "amax", -1)
    use = c.is_obj & same[:, None]
    key = key.long().clamp(0, n_keys - 1)
    table, seen, ok = fit_table(torch.cat([key, key], 1), torch.cat([tmin, tmax], 1), torch.cat([use, use], 1),
                                demos, n_keys)
    gs = demos.slots
    new = per_slot(table, gs).gather(1, key)                   # [N, s*s] colour per object
    known = per_slot(seen, gs).gather(1, key) | ~c.is_obj
    out = torch.where(c.fg, c.cell(new), g.cells)
    ok = per_slot(ok, gs) & known.all(1) & (c.n_obj > 0) & _changed_any(g, out, gs)
    return _out(g, out, ok & same_size_all(g, demos))


@primitive("recolour_by_rank_fit", FAMILY, fitted=True)
def recolour_by_rank_fit(g: GridBatch, demos: DemoTargets):
    """Recolour each object by its size rank (0 = largest) through a fitted rank -> colour table."""
    c = components(g)
    return _recolour_by(g, demos, c, c.rank.clamp(max=RANKS - 1), RANKS)


def recolour_by_size_class(g: GridBatch, demos: DemoTargets, c: Components):
    """Recolour the largest objects of ``c``, the smallest and the others by three fitted colours (0 allowed)."""
    big = torch.where(c.is_obj, c.count, -1).amax(1, keepdim=True)
    small = torch.where(c.is_obj, c.count, c.ncell + 1).amin(1, keepdim=True)
    key = torch.where(c.count == big, 0, torch.where(c.count == small, 1, 2))
    return _recolour_by(g, demos, c, key, 3)


@primitive("recolour_by_size_class_fit", FAMILY, fitted=True)
def recolour_by_size_class_fit(g: GridBatch, demos: DemoTargets):
    """Recolour the largest objects, the smallest objects and the others by three fitted colours (0 allowed)."""
    return recolour_by_size_class(g, demos, components(g))


@primitive("recolour_by_shape_unique_fit", FAMILY, fitted=True)
def recolour_by_shape_unique_fit(g: GridBatch, demos: DemoTargets):
    """Recolour objects whose shape no other object has, and the others, by two fitted colours."""
    c = components(g)
    return _recolour_by(g, demos, c, (c.shape_mult == 1).long(), 2)


@primitive("recolour_by_hole_fit", FAMILY, fitted=True)
def recolour_by_hole_fit(g: GridBatch, demos: DemoTargets):
    """Recolour objects that enclose background (touch a hole), and the others, by two fitted colours."""
    c = components(g)
    hp = F.pad(enclosed_bg(g), (1, 1, 1, 1))
    near = hp[:, :-2, 1:-1] | hp[:, 2:, 1:-1] | hp[:, 1:-1, :-2] | hp[:, 1:-1, 2:]  # a hole cell 4-adjacent
    n = len(g)
    key = c.scatter((near & c.fg).reshape(n, c.ncell).to(torch.int32), "amax", 0)
    return _recolour_by(g, demos, c, key, 2)


# ------------------------------------------------------------------------------------------- summaries
@primitive("objs_by_size_col", FAMILY)
def objs_by_size_col(g: GridBatch):
    """A K x 1 column of the objects' colours, largest object first (K = number of objects)."""
    c = components(g)
    n, s, nc = len(g), g.side, c.ncell
    rank = torch.where(c.is_obj, c.rank, nc).long()
    col = torch.full((n, nc + 1), PAD, dtype=torch.long, device=g.cells.device)
    col = col.scatter_reduce(1, rank, c.colour.long(), "amin", include_self=True)[:, :s]
    rows, cols = torch.arange(s, device=g.cells.device)[:, None], torch.arange(s, device=g.cells.device)
    out = torch.where((cols == 0) & (rows < c.n_obj[:, None, None]), col[:, :, None], PAD)
    size = torch.stack([c.n_obj.long().clamp(1, s), torch.ones_like(c.n_obj.long())], 1)
    ok = (c.n_obj > 1) & (c.n_obj <= s)
    return torch.where(ok[:, None, None], out, g.cells), torch.where(ok[:, None], size, g.size), ok


