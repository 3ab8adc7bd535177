"""Painting primitives: gravity, fills (enclosed, outline, interior, bbox, border) and line drawing from seeds.

Lines use ``first_hit``: for every cell, the colour of and distance to the first non-background cell in a
direction, by pointer doubling (5 shifts cover 30 cells), so rays stop at obstacles for free.
"""
from __future__ import annotations

import torch
from torch import Tensor

from topas_lit.modules.dsl.colour import DIAG, ORTHO, fit_colour, paint_fit, register, shift
from topas_lit.modules.dsl.components import enclosed_bg
from topas_lit.modules.dsl.grid import BG, PAD, bbox, coords
from topas_lit.modules.dsl.registry import DemoTargets, GridBatch

FAR = 99                                  # distance when nothing is hit


def fg_of(g: GridBatch) -> Tensor:
    return g.inside & (g.cells != BG)


def bg_of(g: GridBatch) -> Tensor:
    return g.inside & (g.cells == BG)


def first_code(code: Tensor, dr: int, dc: int) -> Tensor:
    """For every cell, the code (>= 0) of the first cell with a code seen looking along (dr, dc), -1 if none
    (``code [N, s, s]`` int8, -1 where a cell has none). Pointer doubling: 5 shifts cover the board."""
    v = shift(code, dr, dc, -1)
    step = 1
    for _ in range(5):
        v = torch.where(v >= 0, v, shift(v, dr * step, dc * step, -1))
        step *= 2
    return v


def first_hit(g: GridBatch, dr: int, dc: int, dist: bool = False):
    """Colour [N, s, s] (-1 if none) of the first non-background cell seen from each cell looking along
    (dr, dc), and with ``dist`` also its distance (FAR if none). Pointer doubling in int8: 5 shifts cover the
    board. Cached per GridBatch."""

    def compute():
        code = torch.where(fg_of(g), g.cells, -1).to(torch.int8)
        if not dist:
            return first_code(code, dr, dc)
        v = shift(code, dr, dc, -1)
        d = torch.where(v >= 0, 1, FAR).to(torch.int8)
        step = 1
        for _ in range(5):
            d = torch.where(v >= 0, d, (shift(d, dr * step, dc * step, FAR) + step).clamp(max=FAR))
            v = torch.where(v >= 0, v, shift(v, dr * step, dc * step, -1))
            step *= 2
        return v, d

    return g.cached(f"painting.first_hit{dr},{dc},{dist}", compute)


def _paint(g: GridBatch, mask: Tensor, colour: Tensor):
    """Paint ``colour`` (broadcastable to [N, s, s]) on the cells of ``mask``; ok where the grid has some
    non-background cell (a grid without seeds is left as it is)."""
    return torch.where(mask, colour, g.cells), g.size, fg_of(g).flatten(1).any(1)


# ----------------------------------------------------------------------------------------------- gravity
def _gravity(g: GridBatch, dim: int, fg_first: bool):
    """Stable sort of each column (dim 1) or row (dim 2): non-background to one end, background inside the grid,
    PAD untouched."""
    fg = fg_of(g)
    key = torch.where(g.inside, torch.where(fg, 0, 1) if fg_first else torch.where(fg, 1, 0), 2)
    order = key.argsort(dim=dim, stable=True)
    return g.cells.gather(dim, order), g.size, fg.flatten(1).any(1)


@register("gravity_down", "painting")
def gravity_down(g: GridBatch):
    """Non-background cells fall to the bottom of their column, keeping their order."""
    return _gravity(g, 1, False)


@register("gravity_up", "painting")
def gravity_up(g: GridBatch):
    """Non-background cells rise to the top of their column, keeping their order."""
    return _gravity(g, 1, True)


@register("gravity_left", "painting")
def gravity_left(g: GridBatch):
    """Non-background cells slide to the left of their row, keeping their order."""
    return _gravity(g, 2, True)


@register("gravity_right", "painting")
def gravity_right(g: GridBatch):
    """Non-background cells slide to the right of their row, keeping their order."""
    return _gravity(g, 2, False)


# ----------------------------------------------------------------------------------------------- fills
def enclosed(g: GridBatch) -> tuple[Tensor, Tensor]:
    """Background cells not 4-connected (through background) to the grid border: (mask, converged [N]).

    The background regions are labelled as connected components (``components.enclosed_bg``, exact within its
    fixed iteration budget, mazes and spirals included), so ``converged`` is always True; it stays in the
    signature for callers that gate on it."""
    mask = enclosed_bg(g)
    return mask, torch.ones_like(mask[:, 0, 0])


@register("fill_enclosed_fit", "painting", fitted=True)
def fill_enclosed_fit(g: GridBatch, demos: DemoTargets):
    """Background cells cut off from the border (4-connectivity through background) -> a fitted colour."""
    mask, conv = enclosed(g)
    cells, size, ok = paint_fit(g, demos, mask)
    return cells, size, ok & conv


def _neighbours(fg: Tensor, dirs, off_board: bool = False) -> Tensor:
    """[N, s, s] bool: some neighbour along ``dirs`` is in ``fg`` (off the board counts as ``off_board``)."""
    out = torch.zeros_like(fg)
    for dr, dc in dirs:
        out = out | shift(fg, dr, dc, off_board)
    return out


@register("outline4_fit", "painting", fitted=True)
def outline4_fit(g: GridBatch, demos: DemoTargets):
    """Background cells 4-adjacent to a non-background cell -> a fitted colour."""
    return paint_fit(g, demos, bg_of(g) & _neighbours(fg_of(g), ORTHO))


@register("outline8_fit", "painting", fitted=True)
def outline8_fit(g: GridBatch, demos: DemoTargets):
    """Background cells 8-adjacent to a non-background cell -> a fitted colour."""
    return paint_fit(g, demos, bg_of(g) & _neighbours(fg_of(g), ORTHO + DIAG))


def interior(g: GridBatch) -> Tensor:
    """Non-background cells whose 8 neighbours are all non-background (inside the grid)."""
    fg = fg_of(g)
    return fg & ~_neighbours(~fg, ORTHO + DIAG, off_board=True)


@register("interior_fit", "painting", fitted=True)
def interior_fit(g: GridBatch, demos: DemoTargets):
    """Interior cells of shapes (all 8 neighbours non-background) -> a fitted colour."""
    return paint_fit(g, demos, interior(g))


@register("hollow", "painting")
def hollow(g: GridBatch):
    """Interior cells of shapes -> background, leaving their outlines."""
    return _paint(g, interior(g), BG)


@register("fill_bbox_fit", "painting", fitted=True)
def fill_bbox_fit(g: GridBatch, demos: DemoTargets):
    """Background cells inside the bounding box of all non-background cells -> a fitted colour."""
    top, left, h, w, _ = bbox(fg_of(g))
    rows, cols = coords(g.side, g.cells.device)
    t, l = top[:, None, None], left[:, None, None]
    box = (rows >= t) & (rows < t + h[:, None, None]) & (cols >= l) & (cols < l + w[:, None, None])
    return paint_fit(g, demos, box & bg_of(g))


@register("border_fit", "painting", fitted=True)
def border_fit(g: GridBatch, demos: DemoTargets):
    """The outermost frame of cells of the grid -> a fitted colour."""
    rows, cols = coords(g.side, g.cells.device)
    h, w = g.size[:, 0, None, None], g.size[:, 1, None, None]
    frame = g.inside & ((rows == 0) | (cols == 0) | (rows == h - 1) | (cols == w - 1))
    return paint_fit(g, demos, frame)


# ----------------------------------------------------------------------------------------------- lines
def _rays(g: GridBatch, looks) -> tuple[Tensor, Tensor]:
    """Rays cast by every non-background cell, stopping at obstacles: each background cell takes the colour of
    the nearest source among the looking directions ``looks`` (ties: earlier direction). (mask, colour)."""
    if len(looks) == 1:
        colour = first_hit(g, *looks[0]).long()
    else:
        colour, best = first_hit(g, *looks[0], dist=True)
        for dr, dc in looks[1:]:                  # nearest wins, ties the earlier direction (7x argmin's speed on CPU)
            v, d = first_hit(g, dr, dc, dist=True)
            colour, best = torch.where(d < best, v, colour), torch.minimum(best, d)
        colour = colour.long()
    return bg_of(g) & (colour >= 0), colour


@register("ray_down", "painting")
def ray_down(g: GridBatch):
    """Every non-background cell casts a ray of its colour downwards until an obstacle or the border."""
    return _paint(g, *_rays(g, ((-1, 0),)))


@register("ray_up", "painting")
def ray_up(g: GridBatch):
    """Rays upwards until an obstacle or the border."""
    return _paint(g, *_rays(g, ((1, 0),)))


@register("ray_right", "painting")
def ray_right(g: GridBatch):
    """Rays to the right until an obstacle or the border."""
    return _paint(g, *_rays(g, ((0, -1),)))


@register("ray_left", "painting")
def ray_left(g: GridBatch):
    """Rays to the left until an obstacle or the border."""
    return _paint(g, *_rays(g, ((0, 1),)))


@register("rays_diag", "painting")
def rays_diag(g: GridBatch):
    """Rays along the four diagonals until an obstacle or the border (nearest source wins)."""
    return _paint(g, *_rays(g, DIAG))


def _line_colour(g: GridBatch, dim: int) -> Tensor:
    """Per row (dim 2) or column (dim 1): the colour of its non-background cells if they all agree, else -1;
    broadcast back to [N, s, s]."""
    fg = fg_of(g)
    hi = torch.where(fg, g.cells, -1).amax(dim, keepdim=True)
    lo = torch.where(fg, g.cells, PAD).amin(dim, keepdim=True)
    return torch.where(hi == lo, hi, -1).expand_as(g.cells)


@register("lines_h", "painting")
def lines_h(g: GridBatch):
    """Each row holding non-background cells of one colour is filled (its background) with that colour."""
    c = _line_colour(g, 2)
    return _paint(g, bg_of(g) & (c >= 0), c)


@register("lines_v", "painting")
def lines_v(g: GridBatch):
    """Each column holding non-background cells of one colour is filled with that colour."""
    c = _line_colour(g, 1)
    return _paint(g, bg_of(g) & (c >= 0), c)


@register("lines_cross_fit", "painting", fitted=True)
def lines_cross_fit(g: GridBatch, demos: DemoTargets):
    """Row and column lines through every pixel (as lines_h + lines_v); crossings of two different colours get
    a fitted colour."""
    ch, cv = _line_colour(g, 2), _line_colour(g, 1)
    bg = bg_of(g)
    cross = bg & (ch >= 0) & (cv >= 0) & (ch != cv)
    c, ok, seen = fit_colour(cross, demos, with_seen=True)
    colour = torch.where(cross, c[:, None, None], torch.maximum(ch, cv))
    cells, size, has = _paint(g, bg & (colour >= 0), colour)
    return cells, size, has & ok & (seen | ~cross.flatten(1).any(1))


def _connect(g: GridBatch, horizontal: bool, vertical: bool) -> tuple[Tensor, Tensor]:
    """Background cells between two same-colour non-background cells of their row / column (nearest on both
    sides): (mask, colour); the vertical link wins where both apply."""
    mask = torch.zeros_like(g.inside)
    colour = torch.full_like(g.cells, -1)
    for on, (a, b) in ((horizontal, ((0, -1), (0, 1))), (vertical, ((-1, 0), (1, 0)))):
        if on:
            ca, cb = first_hit(g, *a), first_hit(g, *b)
            link = (ca >= 0) & (ca == cb)
            mask, colour = mask | link, torch.where(link, ca.long(), colour)
    return mask & bg_of(g), colour


@register("connect_h", "painting")
def connect_h(g: GridBatch):
    """Join same-colour pixels of a row with a line of their colour."""
    return _paint(g, *_connect(g, True, False))


@register("connect_v", "painting")
def connect_v(g: GridBatch):
    """Join same-colour pixels of a column with a line of their colour."""
    return _paint(g, *_connect(g, False, True))


@register("connect_hv", "painting")
def connect_hv(g: GridBatch):
    """Join same-colour pixels of rows and columns (vertical lines on top)."""
    return _paint(g, *_connect(g, True, True))


@register("connect_h_fit", "painting", fitted=True)
def connect_h_fit(g: GridBatch, demos: DemoTargets):
    """Join same-colour pixels of a row with a line of a fitted colour."""
    return paint_fit(g, demos, _connect(g, True, False)[0])


@register("connect_v_fit", "painting", fitted=True)
def connect_v_fit(g: GridBatch, demos: DemoTargets):
    """Join same-colour pixels of a column with a line of a fitted colour."""
    return paint_fit(g, demos, _connect(g, False, True)[0])


@register("connect_hv_fit", "painting", fitted=True)
def connect_hv_fit(g: GridBatch, demos: DemoTargets):
    """Join same-colour pixels of rows and columns with lines of a fitted colour."""
    return paint_fit(g, demos, _connect(g, True, True)[0])
