"""Patterning primitives: same-size pattern completion and recolouring rules the symmetry / colour families lack.

- square covers: noise removal keeping only the cells a 2 x 2 one-colour square covers;
- content symmetry: the non-background content completed under 90-degree rotations about the best centre near its
  bounding box's centre (not the grid's);
- band tiling: the band of rows (columns) holding the content continued periodically over the whole grid;
- rings: concentric one-colour rings with their colour order reversed;
- marker recolouring: cells of a fitted mask colour take their row's (column's) one other colour, or the pattern
  of the one template drawn in the other colours; objects take the colour of the framed template of their shape;
- symmetry completion whose mirror-axis cells are restored along lines; an occluder colour removed by mirroring
  the visible content;
- row templates: rows completed along the fullest row through a colour map; rows painted by their marker's column.
"""
from __future__ import annotations

import torch
from torch import Tensor

from topas_lit.modules.dsl.colour import ORTHO, changed, fit_keys, per_slot, register, same_size, shift
from topas_lit.modules.dsl.components import components, enclosed_bg, fit_choice, match_targets
from topas_lit.modules.dsl.grid import BG, N_COLOURS, PAD, bbox, coords, remap
from topas_lit.modules.dsl.painting import first_code
from topas_lit.modules.dsl.registry import DemoTargets, GridBatch
from topas_lit.modules.dsl.symmetry import _filled, _masked, fit_mask_colour, sym_fill

FAMILY = "patterning"


def _fg(g: GridBatch) -> Tensor:
    return g.inside & (g.cells != BG)


# ----------------------------------------------------------------------------------------------- square covers
@register("keep_square_covered", FAMILY)
def keep_square_covered(g: GridBatch):
    """Noise removal: non-background cells not covered by any 2 x 2 square of their own colour -> background."""
    fg = _fg(g)
    c = g.cells
    anchor = fg & (shift(c, 0, 1, PAD) == c) & (shift(c, 1, 0, PAD) == c) & (shift(c, 1, 1, PAD) == c)
    cover = anchor | shift(anchor, 0, -1, False) | shift(anchor, -1, 0, False) | shift(anchor, -1, -1, False)
    out = torch.where(fg & ~cover, BG, c)
    return out, g.size, cover.flatten(1).any(1) & changed(c, out)


# ----------------------------------------------------------------------------------------------- content symmetry
ROW_STEPS = (0, -1, 1)   # centre row shifts tried, in half cells, from the content's bounding-box centre
COL_STEPS = ((0, -1), (-2, 1), (2, 1))   # column shifts in half cells: (when the parity allows it, when it does not)


def _rotations(cr2: Tensor, cc2: Tensor, s: int, device) -> list[tuple[Tensor, Tensor]]:
    """Source (row, col) of every cell under the 90, 180 and 270-degree rotations about the centre whose doubled
    coordinates are ``cr2, cc2`` ([N, 1, 1], same parity)."""
    rows, cols = coords(s, device)
    a, b = (cr2 - cc2) // 2, (cr2 + cc2) // 2
    return [(a + cols, b - rows), (cr2 - rows, cc2 - cols), (b - cols, rows - a)]


def _rotated(cells: Tensor, size: Tensor, src: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    """(``cells`` at the source cells, -1 where the source lies off the grid; valid: the source is on the grid)."""
    r, c = src
    valid = (r >= 0) & (c >= 0) & (r < size[:, 0, None, None]) & (c < size[:, 1, None, None])
    return remap(cells, r, c, valid, -1), valid


@register("complete_rotation", FAMILY)
def complete_rotation(g: GridBatch):
    """Complete the non-background content to 90-degree rotational symmetry about the centre (near its bounding
    box's centre) where the most content cells meet a content cell of their colour and none meets another colour
    or falls off the grid under the 90-degree rotation; background cells take the colour of a rotated content cell
    (not ok where a cell and its three rotations disagree or content moves off the grid). Centres are scored on the
    90-degree rotation alone (its inverse pairs the same cells)."""
    fg = _fg(g)
    s, dev = g.side, g.cells.device
    top, left, h, w, nonempty = bbox(fg)
    val = torch.where(fg, g.cells, -1).to(torch.int8)
    best = torch.full_like(top, -1)
    r0, c0 = 2 * top + h - 1, 2 * left + w - 1
    odd = (r0 - c0) % 2                                       # the column shift that keeps both halves integral
    bcr, bcc = r0, c0 + odd
    for dr in ROW_STEPS:
        for even, uneven in COL_STEPS:
            cr2 = r0 + dr
            cc2 = c0 + torch.where((odd + dr) % 2 == 0, even, uneven)
            pv, valid = _rotated(val, g.size, _rotations(cr2[:, None, None], cc2[:, None, None], s, dev)[0])
            agree = (fg & (pv == val)).flatten(1).sum(1)
            clash = (fg & ((pv >= 0) & (pv != val) | ~valid)).flatten(1).any(1)
            better = ~clash & (agree > best)
            best = torch.where(better, agree, best)
            bcr, bcc = torch.where(better, cr2, bcr), torch.where(better, cc2, bcc)
    hi, lo, off = val, torch.where(fg, val, N_COLOURS), torch.zeros_like(nonempty)
    for src in _rotations(bcr[:, None, None], bcc[:, None, None], s, dev):
        pv, valid = _rotated(val, g.size, src)
        hi, lo = torch.maximum(hi, pv), torch.minimum(lo, torch.where(pv >= 0, pv, N_COLOURS))
        off = off | (fg & ~valid).flatten(1).any(1)
    out = torch.where((g.cells == BG) & g.inside & (hi > 0), hi.to(g.cells.dtype), g.cells)
    clash = ((hi >= 0) & (hi != lo)).flatten(1).any(1)
    return out, g.size, nonempty & (best > 0) & ~off & ~clash & changed(g.cells, out)


# ----------------------------------------------------------------------------------------------- band tiling
def _band_tile(g: GridBatch, demos: DemoTargets, axis: int):
    """The rows (axis 0) or columns (axis 1) spanned by the content are repeated over the whole grid with a period
    along that axis: the smallest one under which the band's lines agree, or the band's whole length (the first
    option that reproduces the demos)."""
    fg = _fg(g)
    top, left, h, w, nonempty = bbox(fg)
    rows, cols = coords(g.side, g.cells.device)
    pos, lo, ln = (rows, top, h) if axis == 0 else (cols, left, w)
    kc = torch.where(g.inside & (pos >= lo[:, None, None]) & (pos < (lo + ln)[:, None, None]), g.cells, -1)
    kc = kc.to(torch.int8)
    period = ln
    for p in reversed(range(1, g.side)):                       # the smallest clash-free period wins
        other = shift(kc, p, 0, -1) if axis == 0 else shift(kc, 0, p, -1)
        clash = ((kc >= 0) & (other >= 0) & (kc != other)).flatten(1).any(1)
        period = torch.where(~clash & (p < ln), p, period)
    lo = lo[:, None, None]

    def make(k: Tensor):
        per = torch.where(k == 0, period, ln)[:, None, None]
        src = lo + (pos - lo) % per
        out = remap(g.cells, src if axis == 0 else rows, cols if axis == 0 else src, g.inside, PAD)
        return out, g.size, nonempty

    k, _ = fit_choice(demos, 2, make)
    cells, size, ok = make(k)
    exact, _ = match_targets(cells, size, ok, demos)
    return cells, size, ok & per_slot(exact, demos.slots) & changed(g.cells, cells, demos.slots)


@register("tile_row_band_fit", FAMILY, fitted=True)
def tile_row_band_fit(g: GridBatch, demos: DemoTargets):
    """The band of rows holding the content is continued periodically up and down over the whole grid."""
    return _band_tile(g, demos, 0)


@register("tile_col_band_fit", FAMILY, fitted=True)
def tile_col_band_fit(g: GridBatch, demos: DemoTargets):
    """The band of columns holding the content is continued periodically left and right over the whole grid."""
    return _band_tile(g, demos, 1)


# ----------------------------------------------------------------------------------------------- rings
@register("reverse_rings", FAMILY)
def reverse_rings(g: GridBatch):
    """A grid of concentric one-colour rings (ring d: the cells d steps from the border) gets its ring colours in
    reverse order (the outermost takes the innermost's colour)."""
    s, dev = g.side, g.cells.device
    rows, cols = coords(s, dev)
    h, w = g.size[:, 0, None, None], g.size[:, 1, None, None]
    depth = torch.minimum(torch.minimum(rows, cols), torch.minimum(h - 1 - rows, w - 1 - cols))
    deepest = (torch.minimum(h, w) - 1) // 2
    ring = remap(g.cells, depth, depth, g.inside, PAD)                   # the colour of each cell's ring
    uniform = ((ring == g.cells) | ~g.inside).flatten(1).all(1)
    rev = deepest - depth
    out = remap(g.cells, rev, rev, g.inside, PAD)
    return out, g.size, uniform & (g.size.amin(1) >= 3) & changed(g.cells, out)


# ----------------------------------------------------------------------------------------------- marker recolouring
def _line_marker(g: GridBatch, mask: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """Per cell, the one non-background colour outside ``mask`` in its row (dim 2) or column (dim 1): (colour,
    unique) [N, s, s]."""
    other = _fg(g) & ~mask
    hi = torch.where(other, g.cells, -1).amax(dim, keepdim=True)
    lo = torch.where(other, g.cells, N_COLOURS).amin(dim, keepdim=True)
    return hi.expand_as(g.cells), (hi == lo).expand_as(mask)


@register("recolour_mask_by_line_fit", FAMILY, fitted=True)
def recolour_mask_by_line_fit(g: GridBatch, demos: DemoTargets):
    """Cells of the fitted mask colour (in every demo input, in no demo output) take the one other non-background
    colour of their row, or of their column (the first that reproduces the demos)."""
    m, mok = fit_mask_colour(g, demos)
    mask = g.inside & (g.cells == m[:, None, None])
    opts = [_line_marker(g, mask, d) for d in (2, 1)]

    def make(k: Tensor):
        colour = torch.where(k[:, None, None] == 0, opts[0][0], opts[1][0])
        unique = torch.where(k[:, None, None] == 0, opts[0][1], opts[1][1])
        out = torch.where(mask, colour, g.cells)
        return out, g.size, mok & ~(mask & ~unique).flatten(1).any(1)

    k, _ = fit_choice(demos, 2, make)
    cells, size, ok = make(k)
    exact, _ = match_targets(cells, size, ok, demos)
    return cells, size, ok & per_slot(exact, demos.slots) & mask.flatten(1).any(1)


@register("mask_objs_take_template", FAMILY, fitted=True)
def mask_objs_take_template(g: GridBatch, demos: DemoTargets):
    """Every object of the fitted mask colour (8-connected) becomes a copy of the template: the bounding box of the
    non-background cells of other colours. Not ok unless every mask object has the template's box size."""
    m, mok = fit_mask_colour(g, demos)
    mask = g.inside & (g.cells == m[:, None, None])
    c = components(g)
    ttop, tleft, th, tw, has = bbox(_fg(g) & ~mask)
    otop, oleft = c.cell(c.top).long(), c.cell(c.left).long()
    oh, ow = c.cell(c.height).long(), c.cell(c.width).long()
    fits = ((oh == th[:, None, None]) & (ow == tw[:, None, None])) | ~mask
    rows, cols = coords(g.side, g.cells.device)
    src_r = ttop[:, None, None] + rows - otop
    src_c = tleft[:, None, None] + cols - oleft
    out = torch.where(mask, remap(g.cells, src_r, src_c, mask, BG), g.cells)
    ok = mok & has & mask.flatten(1).any(1) & fits.flatten(1).all(1)
    return out, g.size, ok & per_slot(same_size(g.size, demos), demos.slots)


# ----------------------------------------------------------------------------------------------- symmetry + lines
def _line_fill(cells: Tensor, known: Tensor) -> Tensor:
    """Unknown cells take the colour of the nearest known cells on both sides along their diagonal, else
    anti-diagonal, else row, else column, where those two agree (-1 where no line gives one)."""
    code = torch.where(known, cells, -1).to(torch.int8)
    out = torch.full_like(code, -1)
    for dr, dc in ((1, 1), (1, -1), (0, 1), (1, 0)):
        a, b = first_code(code, dr, dc), first_code(code, -dr, -dc)
        out = torch.where((out < 0) & (a >= 0) & (a == b), a, out)
    return out.long()


@register("complete_symmetry_lines_fit", FAMILY, fitted=True)
def complete_symmetry_lines_fit(g: GridBatch, demos: DemoTargets):
    """``complete_symmetry_fit``, then the hidden cells no mirror partner restores (cells on a mirror axis) take
    the colour the nearest visible cells on both sides agree on along their diagonal, anti-diagonal, row or
    column."""
    mask, ok = _masked(g, demos)
    cells, _ = _filled(g, demos, sym_fill)
    m, _ = fit_mask_colour(g, demos)
    known = g.inside & (cells != m[:, None, None])
    line = _line_fill(cells, known)
    out = torch.where(known | ~g.inside, cells, line)
    return out, g.size, ok & ~(g.inside & (out < 0)).flatten(1).any(1)


# ----------------------------------------------------------------------------------------------- template shapes
@register("recolour_like_enclosed_template", FAMILY)
def recolour_like_enclosed_template(g: GridBatch):
    """Templates are the objects (8-connected, one colour) lying wholly inside a hole (every background cell
    4-adjacent to them is enclosed, none on the grid edge); every other object with a template's shape takes that
    template's colour (not ok where one shape has templates of two colours)."""
    c = components(g)
    n, nc = len(g), c.ncell
    hole = enclosed_bg(g)
    open_ = ~g.inside | (g.inside & (g.cells == BG) & ~hole)
    touch_open = torch.zeros_like(open_)
    touch_hole = torch.zeros_like(open_)
    for dr, dc in ORTHO:
        touch_open = touch_open | shift(open_, dr, dc, True)
        touch_hole = touch_hole | shift(hole, dr, dc, False)
    per_obj = lambda m: c.scatter((m & c.fg).reshape(n, nc).int(), "amax", 0) > 0  # noqa: E731
    tmpl = c.is_obj & per_obj(touch_hole) & ~per_obj(touch_open)
    srt, order = c.shape_fp.sort(dim=1, stable=True)
    run = torch.cat([torch.zeros_like(srt[:, :1]), (srt[:, 1:] != srt[:, :-1]).long()], 1).cumsum(1)
    tcol = torch.where(tmpl, c.colour, -1).long().gather(1, order)
    hi = torch.full_like(run, -1).scatter_reduce(1, run, tcol, "amax").gather(1, run)
    lo = torch.full_like(run, 99).scatter_reduce(1, run, torch.where(tcol >= 0, tcol, 99), "amin").gather(1, run)
    hi, lo = torch.empty_like(hi).scatter_(1, order, hi), torch.empty_like(lo).scatter_(1, order, lo)
    take = c.is_obj & ~tmpl & (hi >= 0)
    out = torch.where(c.fg, c.cell(torch.where(take, hi, c.colour.long())), g.cells)
    return out, g.size, tmpl.any(1) & ~(take & (hi != lo)).any(1) & changed(g.cells, out)


# ----------------------------------------------------------------------------------------------- occluded mirror
AXIS_STEPS = range(-2, 3)   # mirror axes tried, in half cells, from the visible content's bounding-box centre


def _mirror_unmask(g: GridBatch, kc: Tensor, hidden: Tensor, lr: bool) -> tuple[Tensor, Tensor]:
    """Fill the ``hidden`` cells from their mirror partners (left-right or up-down) about the axis near the visible
    content's centre where the most visible content cells meet their colour and no two visible cells differ
    (a content cell's partner off the grid also clashes); partners hidden too give background.
    ``kc``: colours of the visible cells, -1 on hidden ones. Returns (cells, ok: some axis fits)."""
    rows, cols = coords(g.side, g.cells.device)
    fgk = kc > 0
    top, left, h, w, nonempty = bbox(fgk)
    base = (2 * left + w - 1) if lr else (2 * top + h - 1)
    best, fill = torch.full_like(top, -1), torch.full_like(kc, -1)
    for d in AXIS_STEPS:
        ax = (base + d)[:, None, None]
        pr, pc = (rows, ax - cols) if lr else (ax - rows, cols)
        valid = (pr >= 0) & (pc >= 0) & (pr < g.size[:, 0, None, None]) & (pc < g.size[:, 1, None, None])
        pv = remap(kc, pr, pc, valid, -2)
        both = (kc >= 0) & (pv >= 0)
        clash = (both & (pv != kc)).flatten(1).any(1) | (fgk & (pv == -2)).flatten(1).any(1)
        agree = (both & fgk & (pv == kc)).flatten(1).sum(1)
        better = ~clash & (agree > best)
        best = torch.where(better, agree, best)
        fill = torch.where(better[:, None, None], pv, fill)
    out = torch.where(hidden, fill.clamp(min=BG).to(g.cells.dtype), g.cells)
    return out, nonempty & (best > 0)


@register("unmask_mirror", FAMILY)
def unmask_mirror(g: GridBatch):
    """The least common non-background colour is an occluder: its cells are restored from the left-right mirror of
    the visible content (else the up-down mirror), about the axis near the content's centre that fits it best."""
    cnt = g.counts.masked_fill(torch.arange(N_COLOURS, device=g.cells.device) == BG, 0)
    present = cnt > 0
    key = torch.where(present, cnt, cnt.amax(1, keepdim=True) + 1)
    occ = key.argmin(1)
    unique = (key == key.amin(1, keepdim=True)).sum(1) == 1
    hidden = g.inside & (g.cells == occ[:, None, None])
    kc = torch.where(g.inside & ~hidden, g.cells, -1).to(torch.int8)
    lr, lr_ok = _mirror_unmask(g, kc, hidden, True)
    ud, ud_ok = _mirror_unmask(g, kc, hidden, False)
    out = torch.where(lr_ok[:, None, None], lr, ud)
    return out, g.size, unique & (present.sum(1) >= 2) & (lr_ok | ud_ok) & changed(g.cells, out)


# ----------------------------------------------------------------------------------------------- row templates
@register("rows_follow_template", FAMILY)
def rows_follow_template(g: GridBatch):
    """The row with the most non-background cells (unique) is a template; every other non-empty row is a recoloured
    beginning of it: its colours, read against the template's colours at the same columns, give a colour map that
    completes the row along the template (not ok where a map is inconsistent or misses a template colour)."""
    n, s = len(g), g.side
    fg = _fg(g)
    cnt = fg.sum(2)                                                        # [N, s]
    best = cnt.amax(1, keepdim=True)
    t_row = cnt.argmax(1)
    unique = ((cnt == best).sum(1) == 1) & (best[:, 0] > 0)
    tmpl = g.cells.gather(1, t_row[:, None, None].expand(n, 1, s)).expand(n, s, s).long().clamp(max=N_COLOURS - 1)
    t_fg = (tmpl != BG) & g.inside
    pair = fg & t_fg                                                       # cells read against the template
    key = (torch.arange(s, device=g.cells.device).view(1, s, 1) * N_COLOURS + tmpl).reshape(n, s * s)
    val = g.cells.reshape(n, s * s).long()
    hi = torch.full((n, s * N_COLOURS), -1, dtype=torch.long, device=g.cells.device)
    hi = hi.scatter_reduce(1, key, torch.where(pair.reshape(n, -1), val, -1), "amax")
    lo = torch.full_like(hi, N_COLOURS).scatter_reduce(1, key, torch.where(pair.reshape(n, -1), val, N_COLOURS),
                                                       "amin")
    hi_c, lo_c = hi.gather(1, key).view(n, s, s), lo.gather(1, key).view(n, s, s)
    row_on = (cnt > 0)[:, :, None]
    fill = row_on & t_fg & ~fg
    bad = (fill & (hi_c < 0)) | (pair & (hi_c != lo_c)) | (fg & ~t_fg & row_on)
    out = torch.where(fill, hi_c.clamp(min=0).to(g.cells.dtype), g.cells)
    return out, g.size, unique & ~bad.flatten(1).any(1) & changed(g.cells, out)


@register("recolour_rows_by_marker_fit", FAMILY, fitted=True)
def recolour_rows_by_marker_fit(g: GridBatch, demos: DemoTargets):
    """Every row holding one non-background cell is painted whole in a colour fitted from that cell's column
    (rows without one keep their cells)."""
    n, s = len(g), g.side
    fg = _fg(g)
    one = fg.sum(2, keepdim=True) == 1
    col = fg.long().argmax(2, keepdim=True)
    key = torch.where(one, col + 1, 0).expand(n, s, s)
    value, seen, ok = fit_keys(key, g.inside & one, demos, s + 1)
    gs = demos.slots
    value, seen = per_slot(value, gs), per_slot(seen, gs)
    flat = key.reshape(n, -1)
    known = seen.gather(1, flat).view_as(key) | ~one | ~g.inside
    out = torch.where(one & g.inside, value.gather(1, flat).view_as(key).to(g.cells.dtype), g.cells)
    ok = per_slot(ok & same_size(g.size, demos), gs) & known.flatten(1).all(1) & one.any(1)[:, 0]
    return out, g.size, ok & changed(g.cells, out, gs)
