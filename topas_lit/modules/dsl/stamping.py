"""Stamping primitives: a pattern painted around every non-background cell, fitted on the demos per source colour.

``stamp3x3_fit``: a table (source colour, offset among the 8 neighbours) -> colour, read from the demo outputs at
the background cells next to each source cell; a key whose demo cells all hold one non-background colour paints it,
a key that meets background or several colours paints nothing. Differs from the ``local_map_*`` maps, which key a
cell by its own neighbourhood and so cannot tell which side of a pixel it lies on.
"""
from __future__ import annotations

import torch
from torch import Tensor

from topas_lit.modules.dsl.colour import DIAG, ORTHO, changed, key_colours, per_slot, register, same_size, shift
from topas_lit.modules.dsl.components import bg_regions, components, fit_choice, match_targets, obj_box
from topas_lit.modules.dsl.grid import BG, N_COLOURS, PAD
from topas_lit.modules.dsl.painting import _neighbours, bg_of, fg_of, first_code
from topas_lit.modules.dsl.registry import DemoTargets, GridBatch

FAMILY = "stamping"
OFFSETS = ORTHO + DIAG


def fit_table(key: Tensor, mask: Tensor, demos: DemoTargets, n_keys: int) -> tuple[Tensor, Tensor]:
    """Per key, the demo target colour met under ``mask``: (value [M, n_keys], single [M, n_keys]).

    ``single``: the key met exactly one colour 0..9 and never PAD (a cell outside a demo output). Unlike
    ``colour.fit_keys`` an inconsistent key does not fail the whole fit: the caller decides what it paints."""
    nz = key_colours(key, mask, demos, n_keys)
    single = (nz[..., :N_COLOURS].sum(-1) == 1) & ~nz[..., PAD]
    return nz[..., :N_COLOURS].int().argmax(-1), single


def _claim(hi: Tensor, lo: Tensor, on: Tensor, colour: Tensor) -> tuple[Tensor, Tensor]:
    """Record a paint of ``colour`` on the cells ``on``: the largest and smallest colour claimed per cell."""
    return torch.where(on, torch.maximum(hi, colour), hi), torch.where(on, torch.minimum(lo, colour), lo)


def _claims(g: GridBatch) -> tuple[Tensor, Tensor]:
    """Empty claims (hi -1, lo N_COLOURS) for ``_claim``."""
    return torch.full_like(g.cells, -1, dtype=torch.long), torch.full_like(g.cells, N_COLOURS, dtype=torch.long)


def _painted(cells: Tensor, hi: Tensor, lo: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(cells with every claimed cell painted, painted [N, s, s], clash [N]: a cell claimed by two colours)."""
    painted = hi >= 0
    return torch.where(painted, hi, cells), painted, (painted & (hi != lo)).flatten(1).any(1)


@register("stamp3x3_fit", FAMILY, fitted=True)
def stamp3x3_fit(g: GridBatch, demos: DemoTargets):
    """Every non-background cell paints the background among its 8 neighbours through a fitted table (its colour,
    the neighbour's offset) -> colour (e.g. red pixels get yellow diagonal corners, blue ones orange crosses).
    A (colour, offset) no demo showed paints nothing (a colour only the test input holds is left alone). Not ok where
    two stamps paint one cell different colours or where sizes differ."""
    n, gs = len(g), demos.slots
    fg, bg = fg_of(g), bg_of(g)
    src = torch.where(fg, g.cells, 0).long().clamp(max=N_COLOURS - 1)   # (a stray PAD inside: junk, never ok)
    hi, lo = _claims(g)
    for dr, dc in OFFSETS:
        key = shift(src, -dr, -dc, 0)                       # colour of the source cell at offset -(dr, dc), 0: none
        near = bg & (key > 0)
        value, single = fit_table(key, near, demos, N_COLOURS)
        paint = single & (value != BG)
        value, paint = per_slot(value, gs), per_slot(paint, gs)
        flat = key.reshape(n, -1)
        on = paint.gather(1, flat).view_as(key) & near
        colour = value.gather(1, flat).view_as(key)
        hi, lo = _claim(hi, lo, on, colour)
    out, _, clash = _painted(g.cells, hi, lo)
    ok = per_slot(same_size(g.size, demos), gs) & ~clash & changed(g.cells, out, gs)
    return out, g.size, ok


def _touching(g: GridBatch, colour: Tensor) -> Tensor:
    """[N, s, s] bool: background cells whose 4-connected background region touches (4-adjacency) a cell of
    ``colour [N]``."""
    r = bg_regions(g)
    own = fg_of(g) & (g.cells == colour[:, None, None])
    near = torch.zeros_like(own)
    for dr, dc in ORTHO:
        near = near | shift(own, dr, dc, False)
    hit = r.scatter((near & r.fg).reshape(len(g), -1).int(), "amax", 0) > 0
    return r.cell(hit, False)


@register("flood_from_colour_fit", FAMILY, fitted=True)
def flood_from_colour_fit(g: GridBatch, demos: DemoTargets):
    """Every background region (4-connected) touching a cell of colour k takes colour k; k is fitted: the first
    colour 1..9 that reproduces every demo output."""
    def make(k: Tensor):
        colour = k + 1
        mask = _touching(g, colour)
        return torch.where(mask, colour[:, None, None], g.cells), g.size, mask.flatten(1).any(1)

    k, _ = fit_choice(demos, N_COLOURS - 1, make)
    cells, size, has = make(k)
    exact, _ = match_targets(cells, size, has, demos)
    return cells, size, has & per_slot(exact, demos.slots)


@register("rays_to_objects", FAMILY)
def rays_to_objects(g: GridBatch):
    """Every lone pixel (no non-background 8-neighbour) casts rays of its colour in the 4 orthogonal directions,
    drawn only where the ray ends on a larger object (not on the border or on another lone pixel). Not ok where
    two rays of different colours cross or where no ray is drawn."""
    fg, bg = fg_of(g), bg_of(g)
    lone = fg & ~_neighbours(fg, ORTHO + DIAG)
    colour = g.cells.long().clamp(max=N_COLOURS - 1)
    code = torch.where(fg, colour + torch.where(lone, N_COLOURS, 0), -1).to(torch.int8)  # colour (+10: lone)
    hi, lo = _claims(g)
    for dr, dc in ORTHO:
        back, ahead = first_code(code, -dr, -dc).long(), first_code(code, dr, dc).long()
        on = bg & (back >= N_COLOURS) & (ahead >= 0) & (ahead < N_COLOURS)
        colour = back - N_COLOURS
        hi, lo = _claim(hi, lo, on, colour)
    out, painted, clash = _painted(g.cells, hi, lo)
    return out, g.size, painted.flatten(1).any(1) & ~clash


def tail_claims(g: GridBatch) -> tuple[Tensor, Tensor]:
    """The claims (``_claim``'s hi, lo) of every line end's ray: a non-background cell with exactly one
    non-background 8-neighbour casts a ray of its colour away from that neighbour until an obstacle or the border.
    Cached per batch: ``extend_tails`` and ``linking.extend_tails_cross_fit`` read the same rays."""

    def compute():
        fg, bg = fg_of(g), bg_of(g)
        count = sum(shift(fg, dr, dc, False).int() for dr, dc in ORTHO + DIAG)
        tail = fg & (count == 1)
        colour = g.cells.long().clamp(max=N_COLOURS - 1)
        hi, lo = _claims(g)
        for dr, dc in ORTHO + DIAG:
            src = tail & shift(fg, dr, dc, False)        # its one neighbour at (dr, dc): the ray goes the other way
            code = torch.where(fg, colour + torch.where(src, N_COLOURS, 0), -1).to(torch.int8)
            back = first_code(code, dr, dc).long()      # from a cell on the ray, the source lies along (dr, dc)
            hi, lo = _claim(hi, lo, bg & (back >= N_COLOURS), back - N_COLOURS)
        return hi, lo

    return g.cached("stamping.tail_claims", compute)


@register("extend_tails", FAMILY)
def extend_tails(g: GridBatch):
    """Line ends grow: every non-background cell with exactly one non-background 8-neighbour casts a ray of its colour
    away from that neighbour (a diagonal tail goes on diagonally, a segment's ends go on along it) until an obstacle
    or the border. Not ok where rays of different colours meet or where no ray is drawn."""
    out, painted, clash = _painted(g.cells, *tail_claims(g))
    return out, g.size, painted.flatten(1).any(1) & ~clash


TEMPLATE = 5   # largest template side copied by ``stamp_template``


@register("stamp_template", FAMILY)
def stamp_template(g: GridBatch):
    """The one object of several cells (8-connected, multicolour; odd sides up to 5) is copied centred on every lone
    pixel, the pixel itself replaced by the template's centre. Template background cells paint nothing."""
    c = components(g, diag=True, multi=True)
    n, s = len(g), g.side
    big = c.is_obj & (c.count > 1)
    lab = big.long().argmax(1)
    top, left, h, w = obj_box(c, lab)
    ok = (big.sum(1) == 1) & (h % 2 == 1) & (w % 2 == 1) & (h <= TEMPLATE) & (w <= TEMPLATE)
    marker = c.cell(c.is_obj & (c.count == 1), False)                      # [N, s, s] lone pixels
    part = c.label == lab[:, None, None]                                   # the template's own cells
    out = torch.where(marker, BG, g.cells)
    hi, lo = _claims(g)
    half = TEMPLATE // 2
    for dr in range(-half, half + 1):
        for dc in range(-half, half + 1):
            src_r, src_c = top + h // 2 + dr, left + w // 2 + dc              # the template cell at offset (dr, dc)
            inb = (dr >= -(h // 2)) & (dr <= h // 2) & (dc >= -(w // 2)) & (dc <= w // 2)
            flat = (src_r.clamp(0, s - 1) * s + src_c.clamp(0, s - 1))[:, None]
            colour = g.cells.reshape(n, -1).gather(1, flat)[:, 0].long().clamp(max=N_COLOURS - 1)
            mine = part.reshape(n, -1).gather(1, flat)[:, 0] & inb
            on = shift(marker, -dr, -dc, False) & (mine & (colour != BG))[:, None, None] & g.inside
            hi, lo = _claim(hi, lo, on, colour[:, None, None])
    out, _, clash = _painted(out, hi, lo)
    return out, g.size, ok & marker.flatten(1).any(1) & ~clash
