"""Cropping primitives: cut out the bounding box of a selected object, colour or region.

Objects are 8-connected same-colour components of non-background cells (``components.py``) unless a docstring
says multicolour (any non-background cells that touch). A crop that selects nothing, selects ambiguously (ties)
or would return the whole input is not ok (the input is returned).
"""
from __future__ import annotations

import torch
from torch import Tensor

from topas_lit.modules.dsl.components import (Components, components, fit_choice, fit_stacked, obj_box, obj_mask,
                                              per_slot, pick, take_option, unique_colour_objs)
from topas_lit.modules.dsl.grid import BG, N_COLOURS, PAD, S, bbox, coords, crop
from topas_lit.modules.dsl.registry import DemoTargets, GridBatch, primitive

FAMILY = "cropping"


def _crop(g: GridBatch, top: Tensor, left: Tensor, h: Tensor, w: Tensor, ok: Tensor):
    """Crop the window (each [N]); not ok (and the input returned) where ``ok`` fails or nothing is cut."""
    cells, size = crop(g.cells, top, left, h, w)
    ok = ok & (size != g.size).any(1) & (h >= 1) & (w >= 1)
    return torch.where(ok[:, None, None], cells, g.cells), torch.where(ok[:, None], size, g.size), ok


def crops(g: GridBatch, top: Tensor, left: Tensor, h: Tensor, w: Tensor, ok: Tensor):
    """``_crop`` of K windows per grid at once (each argument [N, K]): one gather from the input grids, no copy of
    them, index math in int32 (K x the cells of a call) -> (cells [N, K, s, s], size [N, K, 2], ok [N, K])."""
    n, k, s = top.shape[0], top.shape[1], g.side
    rows, cols = (x.to(torch.int32) for x in coords(s, g.cells.device))
    src_r = (rows + top.to(torch.int32)[..., None, None]).clamp(0, s - 1)
    src_c = (cols + left.to(torch.int32)[..., None, None]).clamp(0, s - 1)
    raw = g.cells.reshape(n, s * s).gather(1, (src_r * s + src_c).reshape(n, k * s * s)).view(n, k, s, s)
    size = torch.stack([h, w], -1)
    ok = ok & (size != g.size[:, None]).any(-1) & (h >= 1) & (w >= 1)
    take = (rows < h[..., None, None]) & (cols < w[..., None, None])
    cells = torch.where(ok[..., None, None], torch.where(take, raw, PAD), g.cells[:, None])
    return cells, torch.where(ok[..., None], size, g.size[:, None]), ok


def fitted_crop(g: GridBatch, demos: DemoTargets, top: Tensor, left: Tensor, h: Tensor, w: Tensor, ok: Tensor):
    """The crop among K windows per grid (each [N, K]) that the demos choose (``fit_stacked``)."""
    cells, size, ok = crops(g, top, left, h, w, ok)
    k, fit_ok = fit_stacked(demos, cells, size, ok)
    cells, size, ok = take_option(cells, size, ok, k)
    return (torch.where(fit_ok[:, None, None], cells, g.cells), torch.where(fit_ok[:, None], size, g.size),
            ok & fit_ok)


def _crop_mask(g: GridBatch, mask: Tensor, ok: Tensor | None = None):
    """Crop the bounding box of ``mask [N, s, s]``."""
    top, left, h, w, nonempty = bbox(mask & g.inside)
    return _crop(g, top, left, h, w, nonempty if ok is None else ok & nonempty)


def _crop_obj(g: GridBatch, c: Components, lab: Tensor, ok: Tensor):
    """Crop the bounding box of object ``lab [N]``."""
    return _crop(g, *obj_box(c, lab), ok)


# ----------------------------------------------------------------------------------------- by colour / all
@primitive("crop_nonbg", FAMILY)
def crop_nonbg(g: GridBatch):
    """Crop the bounding box of all non-background cells."""
    return _crop_mask(g, g.cells != BG)


def _nonbg_counts(g: GridBatch) -> Tensor:
    return g.counts.masked_fill(torch.arange(N_COLOURS, device=g.cells.device) == BG, 0)


def _crop_colour_rank(g: GridBatch, most: bool):
    counts = _nonbg_counts(g)
    key = counts if most else torch.where(counts > 0, S * S + 1 - counts, 0)
    best = key.amax(1, keepdim=True)
    hit = (key == best) & (counts > 0)
    colour = hit.long().argmax(1)
    return _crop_mask(g, g.cells == colour[:, None, None], hit.sum(1) == 1)


@primitive("crop_most_common_colour", FAMILY)
def crop_most_common_colour(g: GridBatch):
    """Crop the bounding box of all cells of the most common non-background colour."""
    return _crop_colour_rank(g, True)


@primitive("crop_least_common_colour", FAMILY)
def crop_least_common_colour(g: GridBatch):
    """Crop the bounding box of all cells of the least common non-background colour."""
    return _crop_colour_rank(g, False)


# ----------------------------------------------------------------------------------------- by object
@primitive("crop_largest_obj", FAMILY)
def crop_largest_obj(g: GridBatch):
    """Crop the largest object (unique by cell count)."""
    c = components(g)
    return _crop_obj(g, c, *pick(c, c.count, True))


@primitive("crop_smallest_obj", FAMILY)
def crop_smallest_obj(g: GridBatch):
    """Crop the smallest object (unique by cell count)."""
    c = components(g)
    return _crop_obj(g, c, *pick(c, c.count, False))


@primitive("crop_obj_most_colours", FAMILY)
def crop_obj_most_colours(g: GridBatch):
    """Crop the multicolour object with the most distinct colours."""
    c = components(g, multi=True)
    return _crop_obj(g, c, *pick(c, c.ncol, True))


@primitive("crop_unique_colour_obj", FAMILY)
def crop_unique_colour_obj(g: GridBatch):
    """Crop the object whose colour no other object has (exactly one such object)."""
    c = components(g)
    return _crop_obj(g, c, *pick(c, unique_colour_objs(c), True))


@primitive("crop_obj_most_colour_fit", FAMILY, fitted=True)
def crop_obj_most_colour_fit(g: GridBatch, demos: DemoTargets):
    """Crop the 4-connected multicolour object with the most cells of a colour fitted from the demos (the first
    colour 1..9 whose crops reproduce the demo outputs, else the first that gets their sizes right)."""
    c = components(g, diag=False, multi=True)
    picked = [pick(c, c.colcount[:, colour]) for colour in range(1, N_COLOURS)]       # option k: colour k + 1
    labs, oks = torch.stack([p[0] for p in picked], 1), torch.stack([p[1] for p in picked], 1)
    return fitted_crop(g, demos, *obj_box(c, labs), oks)


def _colcount_of(c: Components, colour: Tensor) -> Tensor:
    """[N, s*s] cells of ``colour [N]`` per object."""
    return c.colcount.gather(1, colour.view(-1, 1, 1).expand(-1, 1, c.ncell))[:, 0]


def _mirror_count(c: Components) -> Tensor:
    """[N, s*s] per object: cells whose left-right mirror image in the object's bounding box is a cell of the
    same object and colour."""
    n, s, nc = c.count.shape[0], c.side, c.ncell
    rows, cols = coords(s, c.label.device)
    src_c = c.cell(c.left + c.right).long() - cols
    flat = (rows * s + src_c.clamp(0, s - 1)).reshape(n, nc)
    same = (c.label.reshape(n, nc).gather(1, flat) == c.label.reshape(n, nc)) & \
           (c.cells.reshape(n, nc).gather(1, flat) == c.cells.reshape(n, nc)) & c.fg.reshape(n, nc)
    return c.scatter(same.to(torch.int32), "sum", 0)


@primitive("crop_symmetric_obj", FAMILY)
def crop_symmetric_obj(g: GridBatch):
    """Crop the only multicolour object that is left-right symmetric."""
    c = components(g, multi=True)
    sym = c.is_obj & (_mirror_count(c) == c.count)
    lab, ok = pick(c, sym, True)
    return _crop_obj(g, c, lab, ok & (c.n_obj > 1))


@primitive("crop_common_shape_obj", FAMILY)
def crop_common_shape_obj(g: GridBatch):
    """Crop an object of the shape that occurs most often (that shape unique, at least twice)."""
    c = components(g)
    mult = c.shape_mult
    best = mult.amax(1)
    n_best = (mult == best[:, None]).sum(1)
    lab = (mult == best[:, None]).long().argmax(1)  # first (reading order) object of that shape
    return _crop_obj(g, c, lab, (best >= 2) & (n_best == best))


@primitive("crop_odd_shape_obj", FAMILY)
def crop_odd_shape_obj(g: GridBatch):
    """Crop the only object whose shape no other object has (all others repeat)."""
    c = components(g)
    lab, ok = pick(c, c.is_obj & (c.shape_mult == 1), True)
    return _crop_obj(g, c, lab, ok & (c.n_obj >= 3))


@primitive("crop_marked_obj", FAMILY)
def crop_marked_obj(g: GridBatch):
    """Crop the multicolour object holding the grid's least common colour, boxed without that colour's cells."""
    c = components(g, multi=True)
    counts = _nonbg_counts(g)
    key = torch.where(counts > 0, S * S + 1 - counts, 0)
    hit = (key == key.amax(1, keepdim=True)) & (counts > 0)
    marker = hit.long().argmax(1)
    lab, ok = pick(c, _colcount_of(c, marker), True)
    mask = obj_mask(c, lab) & (g.cells != marker[:, None, None])
    return _crop_mask(g, mask, ok & (hit.sum(1) == 1) & (c.n_obj > 1))


# ----------------------------------------------------------------------------------------- frames, windows
@primitive("crop_inside_frame", FAMILY)
def crop_inside_frame(g: GridBatch):
    """Crop the interior of the largest rectangular outline (a 4-connected one-colour object that is exactly
    the border of its bounding box, at least 3x3)."""
    c = components(g, diag=False)
    rows, cols = coords(g.side, g.cells.device)
    on_edge = (rows == c.cell(c.top).long()) | (rows == c.cell(c.bottom).long()) | \
              (cols == c.cell(c.left).long()) | (cols == c.cell(c.right).long())
    n = len(g)
    edge_count = c.scatter((on_edge & c.fg).reshape(n, c.ncell).to(torch.int32), "sum", 0)
    h, w = c.height, c.width
    frame = c.is_obj & (h >= 3) & (w >= 3) & (edge_count == c.count) & (c.count == 2 * (h + w) - 4)
    lab, ok = pick(c, torch.where(frame, h * w, 0), True)
    top, left, bh, bw = obj_box(c, lab)
    return _crop(g, top + 1, left + 1, bh - 2, bw - 2, ok & frame.any(1))


@primitive("crop_corner_fit", FAMILY, fitted=True)
def crop_corner_fit(g: GridBatch, demos: DemoTargets):
    """Crop a window of the demo outputs' (constant) size at one corner of the grid fitted from the demos."""
    m, gs = demos.has_target.shape
    tsize = torch.where(demos.has_target[..., None], demos.target_size, 0)
    size = per_slot(tsize.amax(1), gs)  # [N, 2]
    const = per_slot(((tsize == tsize.amax(1, keepdim=True)) | ~demos.has_target[..., None]).all(1).all(1), gs)
    h, w = size[:, 0], size[:, 1]
    fits = (h <= g.size[:, 0]) & (w <= g.size[:, 1]) & const

    def make(k, ok=fits):  # k [N]: 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right
        top = torch.where(k // 2 == 1, g.size[:, 0] - h, 0).clamp(min=0)
        left = torch.where(k % 2 == 1, g.size[:, 1] - w, 0).clamp(min=0)
        return _crop(g, top, left, h.clamp(min=1), w.clamp(min=1), ok)

    k, ok = fit_choice(demos, 4, make)
    return make(k, fits & ok)
