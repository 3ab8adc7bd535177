"""Composing primitives: an output built from a chosen piece of the input (the one half of a grid made of two equal
halves, the one non-empty panel copied into every panel) or from a property of it (its majority colour at the
output size the demos share, every object cell in that colour, one pixel per panel keyed by the panel's cell
count; enclosed background regions recoloured by their cell count; cells recoloured by their colour and position phase; the one asymmetric panel)."""
from __future__ import annotations

import torch

from topas_lit.modules.dsl.colour import fit_keys, nonbg_counts, per_slot, register, top_colour
from topas_lit.modules.dsl.components import bg_regions
from topas_lit.modules.dsl.grid import BG, PAD, coords
from topas_lit.modules.dsl.objects import RANKS, _recolour_by
from topas_lit.modules.dsl.registry import DemoTargets, GridBatch
from topas_lit.modules.dsl.split import RUNS, _offsets, _panel_table, _select, halves, panels

FAMILY = "composing"


@register("half_repeated", FAMILY)
def half_repeated(g: GridBatch):
    """A grid made of two equal halves -> one half: left/right if those are equal, else top/bottom (an odd middle
    line must be a separator)."""
    a_lr, b_lr, size_lr, ok_lr = halves(g, 2)
    a_ud, b_ud, size_ud, ok_ud = halves(g, 1)
    lr = ok_lr & (a_lr == b_lr).flatten(1).all(1)
    ud = ok_ud & (a_ud == b_ud).flatten(1).all(1)
    cells = torch.where(lr[:, None, None], a_lr, a_ud)
    size = torch.where(lr[:, None], size_lr, size_ud)
    return cells, size, lr | ud


@register("panels_broadcast", FAMILY)
def panels_broadcast(g: GridBatch):
    """Equal panels of which exactly one holds non-background cells: every panel becomes a copy of it (separators
    kept)."""
    p = panels(g)
    n, s = len(g), g.side
    k = p.cell_panel()
    on = k >= 0
    cnt = _panel_table(p, on & g.inside & (g.cells != BG))                          # [N, RUNS * RUNS]
    full = cnt > 0
    src = full.long().argmax(1)                                                      # the non-empty panel
    top, left, _, _ = p.window(src)
    start = (top * s + left)[:, None, None]
    off = _offsets(g, p)
    copy = g.cells.reshape(n, s * s).gather(1, (start + off).clamp(max=s * s - 1).view(n, s * s)).view(n, s, s)
    out = torch.where(on & g.inside, copy, g.cells)
    ok = p.valid & p.equal & (full.sum(1) == 1) & (p.count <= RUNS * RUNS)
    return out, g.size, ok


@register("majority_colour_fill_fit", FAMILY, fitted=True)
def majority_colour_fill_fit(g: GridBatch, demos: DemoTargets):
    """A block of the most common non-background colour at the output size every demo shares (fitted)."""
    m, gs = demos.has_target.shape
    ts = demos.target_size
    first = ts.gather(1, demos.has_target.long().argmax(1)[:, None, None].expand(m, 1, 2))  # [M, 1, 2]
    shared = ((ts == first).all(-1) | ~demos.has_target).all(1) & demos.has_target.any(1)
    size = per_slot(first[:, 0], gs)                                                 # [N, 2]
    colour, unique = top_colour(nonbg_counts(g))
    rows, cols = coords(g.side, g.cells.device)
    inside = (rows < size[:, 0, None, None]) & (cols < size[:, 1, None, None])
    cells = torch.where(inside, colour[:, None, None], PAD).to(g.cells.dtype)
    return cells, size, unique & per_slot(shared, gs)


@register("unify_colours", FAMILY)
def unify_colours(g: GridBatch):
    """Every non-background cell takes the most common non-background colour (a marked object made whole)."""
    colour, unique = top_colour(nonbg_counts(g))
    fg = g.inside & (g.cells != BG)
    out = torch.where(fg, colour[:, None, None].to(g.cells.dtype), g.cells)
    return out, g.size, unique & (out != g.cells).flatten(1).any(1)


PANEL_KEYS = 16      # panel cell counts told apart (larger counts share the last key)


@register("panels_count_pixels_fit", FAMILY, fitted=True)
def panels_count_pixels_fit(g: GridBatch, demos: DemoTargets):
    """An R x C grid, one pixel per panel, whose colour is fitted from the panel's number of non-background cells
    (panels may differ in size)."""
    p = panels(g)
    n, dev, s = len(g), g.cells.device, g.side
    cnt = _panel_table(p, g.inside & (g.cells != BG)).clamp(max=PANEL_KEYS - 1)     # [N, RUNS * RUNS]
    rows, cols = coords(s, dev)
    k = (rows * p.n_cols[:, None, None] + cols).clamp(max=RUNS * RUNS - 1)
    key = cnt.gather(1, k.view(n, s * s)).view(n, s, s)
    size = torch.stack([p.n_rows, p.n_cols], 1)
    inside = (rows < size[:, 0, None, None]) & (cols < size[:, 1, None, None])
    value, seen, ok = fit_keys(key, inside, demos, PANEL_KEYS)
    gs = demos.slots
    value, seen = per_slot(value, gs), per_slot(seen, gs)                           # [N, PANEL_KEYS]
    out = torch.where(inside, value.gather(1, key.view(n, s * s)).view(n, s, s), PAD).to(g.cells.dtype)
    known = (seen.gather(1, key.view(n, s * s)).view(n, s, s) | ~inside).flatten(1).all(1)
    return out, size, p.valid & known & per_slot(ok, gs)


@register("recolour_holes_by_count_fit", FAMILY, fitted=True)
def recolour_holes_by_count_fit(g: GridBatch, demos: DemoTargets):
    """Recolour each enclosed background region (4-connected, off the border) through a fitted table cell count ->
    colour; the regions on the border share a key of their own."""
    c = bg_regions(g)
    return _recolour_by(g, demos, c, torch.where(c.border, 0, c.count.clamp(max=RANKS - 2) + 1), RANKS)


PHASE_KEYS = 3 * 10  # (colour, phase 0..2)


def _phase_keys(g: GridBatch) -> list:
    """Per-cell keys, in the order tried: the colour with the column (then row) index mod 2 or 3, counted from the
    left/top or from the right/bottom; then whether the cell's row (column) holds one colour."""
    s, dev = g.side, g.cells.device
    rows, cols = coords(s, dev)
    h, w = g.size[:, 0, None, None], g.size[:, 1, None, None]
    colour = g.cells.long().clamp(max=9) * 3
    keys = [colour + pos % k for pos in (cols, w - 1 - cols, rows, h - 1 - rows) for k in (2, 3)]
    fg = g.inside
    for dim in (2, 1):
        hi = torch.where(fg, g.cells, -1).amax(dim, keepdim=True)
        lo = torch.where(fg, g.cells, PAD).amin(dim, keepdim=True)
        keys.append((hi == lo).long().expand_as(colour))
    return keys


@register("recolour_by_phase_fit", FAMILY, fitted=True)
def recolour_by_phase_fit(g: GridBatch, demos: DemoTargets):
    """Recolour every cell through a table (colour, column or row index mod 2 or 3 from either side) -> colour, or
    (its row / column is one colour) -> colour, fitted on the demos; the first key that fits every demo cell wins.
    Cells whose key no demo showed keep their colour."""
    n, gs = len(g), demos.slots
    out, done = g.cells, torch.zeros(n, dtype=torch.bool, device=g.cells.device)
    for key in _phase_keys(g):
        value, seen, ok = fit_keys(key, g.inside, demos, PHASE_KEYS)
        value, seen = per_slot(value, gs), per_slot(seen, gs)
        flat = key.reshape(n, -1)
        known = seen.gather(1, flat).view_as(key) & g.inside
        new = torch.where(known, value.gather(1, flat).view_as(key), g.cells)
        use = per_slot(ok, gs) & ~done
        out = torch.where(use[:, None, None], new.to(g.cells.dtype), out)
        done = done | use
    return out, g.size, done & (out != g.cells).flatten(1).any(1)


@register("panel_asymmetric", FAMILY)
def panel_asymmetric(g: GridBatch):
    """Among equal panels, the only one not symmetric about its main diagonal (square panels), else about its
    vertical, else its horizontal axis."""
    p = panels(g)
    n, dev, s = len(g), g.cells.device, g.side
    on = p.cell_panel() >= 0
    off = _offsets(g, p)
    di, dj = off // s, off % s
    h, w = p.rlen[:, :1, None], p.clen[:, :1, None]
    top = p.rstart.gather(1, p.rid.clamp(0, RUNS - 1))[:, :, None]
    left = p.cstart.gather(1, p.cid.clamp(0, RUNS - 1))[:, None, :]
    live = torch.arange(RUNS * RUNS, device=dev) < p.count[:, None]
    k, found = torch.zeros(n, dtype=torch.long, device=dev), torch.zeros(n, dtype=torch.bool, device=dev)
    for (mi, mj), usable in (((dj, di), (h == w)[:, 0, 0]), ((di, w - 1 - dj), None), ((h - 1 - di, dj), None)):
        src = ((top + mi) * s + left + mj).clamp(0, s * s - 1)
        other = g.cells.reshape(n, s * s).gather(1, src.view(n, s * s)).view(n, s, s)
        asym = (_panel_table(p, on & (g.cells != other)) > 0) & live
        pick = (asym.sum(1) == 1) & ~found & (usable if usable is not None else True)
        k = torch.where(pick, asym.long().argmax(1), k)
        found = found | pick
    return _select(g, p, k, found & p.equal & (p.count >= 3))
