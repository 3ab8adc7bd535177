"""Linking primitives: lines drawn relative to points and objects: L-paths and meeting lines between pixel pairs,
per-colour fitted rows, columns and rays, rays that bend, detour, bounce or recode colours, lines through object
centres, staircases, trails and periodic runs, and same-colour blocks of a grid of cells joined across its lines.

The ``*_major`` primitives and ``centre_lines_fit`` read the grid with its most common colour as the background
(``major``): the colours 0 and the majority colour are swapped before and after, so a grid on a blue field draws like
one on black.
"""
from __future__ import annotations

import torch
from torch import Tensor

from topas_lit.modules.dsl.colour import DIAG, ORTHO, _demo_palettes, apply_map, changed, fit_colour, key_colours, \
    per_slot, register, same_size, shift
from topas_lit.modules.dsl.components import components, fit_choice, match_targets
from topas_lit.modules.dsl.grid import BG, N_COLOURS, PAD, coords
from topas_lit.modules.dsl.painting import _connect, _line_colour, bg_of, fg_of, first_code, first_hit
from topas_lit.modules.dsl.registry import DemoTargets, GridBatch
from topas_lit.modules.dsl.stamping import _claim, _claims, _painted, rays_to_objects, tail_claims

FAMILY = "linking"


# ----------------------------------------------------------------------------------------------- helpers
def major(g: GridBatch) -> tuple[GridBatch, Tensor]:
    """(the batch with its most common colour swapped with 0, the swap map [N, 10], an involution), cached."""

    def compute():
        c = g.counts.argmax(1, keepdim=True)                        # ties: the smaller colour
        ident = torch.arange(N_COLOURS, device=g.cells.device).expand(len(g), N_COLOURS)
        cmap = ident.scatter(1, c, 0).scatter(1, torch.zeros_like(c), c)
        return GridBatch(apply_map(g.cells, cmap), g.size), cmap

    return g.cached("linking.major", compute)


def _back(cmap: Tensor, cells: Tensor) -> Tensor:
    """Cells of the swapped batch in the grid's own colours."""
    return apply_map(cells, cmap)


def _segment(rows: Tensor, cols: Tensor, r1, c1, r2, c2) -> Tensor:
    """[N, s, s] bool: the box spanned by (r1, c1) and (r2, c2) (each [N]): a segment when they share a row or
    column."""
    e = lambda t: t[:, None, None]  # noqa: E731
    return (rows >= e(torch.minimum(r1, r2))) & (rows <= e(torch.maximum(r1, r2))) & \
        (cols >= e(torch.minimum(c1, c2))) & (cols <= e(torch.maximum(c1, c2)))


def _box(mask: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(top, left, bottom, right) [N] of ``mask [N, s, s]`` (empty: top/left s*4, bottom/right -1)."""
    rows, cols = coords(mask.shape[-1], mask.device)
    big = mask.shape[-1] * 4
    t = lambda x, r: torch.where(mask, x, r).flatten(1)  # noqa: E731
    return t(rows, big).amin(1), t(cols, big).amin(1), t(rows, -1).amax(1), t(cols, -1).amax(1)


def _cells8(g: GridBatch) -> Tensor:
    """The cells as int8 (0..9, PAD outside the grid), for codes of ``first_code``."""
    return g.cells.to(torch.int8)


def _choose(g: GridBatch, demos: DemoTargets, outs: list[Tensor], oks: list[Tensor]) -> tuple[Tensor, Tensor]:
    """Per candidate, the first option whose outputs (``outs[i]`` [N, s, s], usable where ``oks[i]`` [N]) reproduce
    every demo output, else option 0 (as ``fit_choice``, for outputs of the input's size): (choice [N] long,
    exact [N])."""
    m, gs = demos.has_target.shape
    exact = torch.full((m,), len(outs), dtype=torch.long, device=g.cells.device)
    for i in reversed(range(len(outs))):
        e, _ = match_targets(outs[i], g.size, oks[i], demos)
        exact = torch.where(e, i, exact)
    return per_slot(torch.where(exact < len(outs), exact, 0), gs), per_slot(exact < len(outs), gs)


def _take(k: Tensor, opts: list[Tensor]) -> Tensor:
    """Per grid, option ``k [N]`` of ``opts`` (each [N, ...])."""
    stack = torch.stack(opts)
    idx = k.view(1, -1, *([1] * (stack.dim() - 2))).expand(1, *stack.shape[1:])
    return stack.gather(0, idx)[0]


def _paint_choice(g: GridBatch, demos: DemoTargets, masks: list[Tensor], ok: Tensor | bool = True):
    """Paint one of ``masks`` (fitted: the first that reproduces the demos) in a fitted colour."""
    outs, oks = [], []
    for mask in masks:
        c, fit_ok = fit_colour(mask, demos)
        out = torch.where(mask, c[:, None, None], g.cells)
        outs.append(out)
        oks.append(fit_ok & ok & changed(g.cells, out, demos.slots))
    k, _ = _choose(g, demos, outs, oks)
    return _take(k, outs), g.size, _take(k, oks)


def _grid_choice(g: GridBatch, demos: DemoTargets, opts: list[Tensor]):
    """One of the outputs ``opts``, fitted: the first that reproduces the demos."""
    oks = [changed(g.cells, o, demos.slots) for o in opts]
    k, _ = _choose(g, demos, opts, oks)
    return _take(k, opts).long(), g.size, _take(k, oks)


# ----------------------------------------------------------------------------------------------- primitives
@register("l_path_fit", FAMILY, fitted=True)
def l_path_fit(g: GridBatch, demos: DemoTargets):
    """The grid's only two non-background cells, of different colours, are joined by an L-shaped path of a fitted
    colour: the corner lies on the row of one and the column of the other, which one fitted (the smaller colour's
    row, or the larger's)."""
    fg, bg = fg_of(g), bg_of(g)
    rows, cols = coords(g.side, g.cells.device)
    lo = torch.where(fg, g.cells, PAD).flatten(1).amin(1)
    hi = torch.where(fg, g.cells, -1).flatten(1).amax(1)
    two = (fg.flatten(1).sum(1) == 2) & (lo != hi)
    at = lambda m, t: torch.where(m, t, -1).flatten(1).amax(1)  # noqa: E731
    is_lo, is_hi = fg & (g.cells == lo[:, None, None]), fg & (g.cells == hi[:, None, None])
    ra, ca, rb, cb = at(is_lo, rows), at(is_lo, cols), at(is_hi, rows), at(is_hi, cols)
    masks = []
    for cr, cc in ((ra, cb), (rb, ca)):                   # the corner on the smaller colour's row, or the larger's
        masks.append((_segment(rows, cols, ra, ca, cr, cc) | _segment(rows, cols, cr, cc, rb, cb)) & bg)
    return _paint_choice(g, demos, masks, two)


@register("lines_by_colour_fit", FAMILY, fitted=True)
def lines_by_colour_fit(g: GridBatch, demos: DemoTargets):
    """Each colour's pixels draw full rows, full columns, both or nothing, fitted per colour from the demos (a row
    line of colour k where the demo rows holding only k-pixels never keep background); where a row line and a
    column line cross, the fitted layer order decides."""
    bg = bg_of(g)
    lines = []
    for dim in (2, 1):                                    # row lines, column lines
        c = _line_colour(g, dim).long()
        own = c.clamp(0, N_COLOURS - 1)                   # (a stray PAD in a junk grid: clamped)
        nz = key_colours(own, g.inside & (c >= 0), demos, N_COLOURS)
        ar = torch.arange(N_COLOURS, device=g.cells.device)
        keep = nz.gather(2, ar.expand(nz.shape[0], N_COLOURS)[..., None])[..., 0]
        flag = keep & ~nz[..., BG] & ~nz[..., PAD] & (ar != BG)          # [M, 10]
        flag = per_slot(flag, demos.slots)
        on = bg & (c >= 0) & flag.gather(1, own.reshape(len(g), -1)).view_as(own)
        lines.append((on, own))
    (hon, hc), (von, vc) = lines

    def make(k: Tensor):
        rows_top = (k == 0)[:, None, None]
        top_on, top_c = torch.where(rows_top, hon, von), torch.where(rows_top, hc, vc)
        low_on, low_c = torch.where(rows_top, von, hon), torch.where(rows_top, vc, hc)
        out = torch.where(top_on, top_c, torch.where(low_on, low_c, g.cells))
        return out, g.size, changed(g.cells, out, demos.slots)

    k, _ = fit_choice(demos, 2, make)
    out, size, ok = make(k)
    return out, size, ok & per_slot(same_size(g.size, demos), demos.slots)


@register("connect_meet_fit", FAMILY, fitted=True)
def connect_meet_fit(g: GridBatch, demos: DemoTargets):
    """Two pixels facing each other along a row or a column are joined: each half takes the colour of its nearer end
    and the middle cell (odd gaps) a fitted colour. Rows, columns or both (column links over row links) fitted."""
    bg = bg_of(g)
    links = []
    for a, b in (((0, -1), (0, 1)), ((-1, 0), (1, 0))):
        ca, da = first_hit(g, *a, dist=True)
        cb, db = first_hit(g, *b, dist=True)
        link = bg & (ca >= 0) & (cb >= 0)
        links.append((link, torch.where(da <= db, ca, cb).long(), link & (da == db)))

    def make(k: Tensor):
        colour = torch.full_like(g.cells, -1)
        mid = torch.zeros_like(bg)
        for i, (link, c, m) in enumerate(links):
            use = link & ((k == i) | (k == 2))[:, None, None]
            colour, mid = torch.where(use, c, colour), torch.where(use, m, mid)
        c, ok, seen = fit_colour(mid, demos, with_seen=True)
        ok = ok & (seen | ~mid.flatten(1).any(1))
        near = colour.clamp(min=0)
        out = torch.where(mid, c[:, None, None], torch.where(colour >= 0, near, g.cells))
        return out, g.size, ok & changed(g.cells, out, demos.slots)

    k, _ = fit_choice(demos, 3, make)
    return make(k)


@register("corner_rays_fit", FAMILY, fitted=True)
def corner_rays_fit(g: GridBatch, demos: DemoTargets):
    """Every object casts rays of its colour from its outer corners (diagonal directions) or faces (orthogonal
    ones), in the directions fitted per colour: those whose demo rays always meet only that colour. Rays stop at
    obstacles. Not ok where rays of two colours meet or where no ray is drawn."""
    fg, bg = fg_of(g), bg_of(g)
    colour = g.cells.long().clamp(max=N_COLOURS - 1)
    rays = []
    for dr, dc in ORTHO + DIAG:
        src = fg & shift(bg, dr, dc, False)
        if dr and dc:
            src = src & ~shift(fg, dr, 0, False) & ~shift(fg, 0, dc, False)
        code = torch.where(fg, colour + torch.where(src, N_COLOURS, 0), -1).to(torch.int8)
        back = first_code(code, -dr, -dc).long()
        rays.append((bg & (back >= N_COLOURS), (back - N_COLOURS).clamp(0, N_COLOURS - 1)))
    hi, lo = _fitted_rays(*_claims(g), rays, demos, per_ray=True)
    out, painted, clash = _painted(g.cells, hi, lo)
    return out, g.size, painted.flatten(1).any(1) & ~clash & per_slot(same_size(g.size, demos), demos.slots)


@register("extend_tails_cross_fit", FAMILY, fitted=True)
def extend_tails_cross_fit(g: GridBatch, demos: DemoTargets):
    """Line ends grow as in ``extend_tails`` (a cell with one non-background 8-neighbour casts a ray away from it);
    where rays of two colours cross, the crossing takes a fitted colour."""
    hi, lo = tail_claims(g)
    out, painted, _ = _painted(g.cells, hi, lo)
    cross = painted & (hi != lo)
    c, ok = fit_colour(cross, demos)
    out = torch.where(cross, c[:, None, None], out)
    return out, g.size, ok & changed(g.cells, out, demos.slots)


@register("rays_to_objects_major", FAMILY)
def rays_to_objects_major(g: GridBatch):
    """``rays_to_objects`` with the grid's most common colour as the background."""
    h, cmap = major(g)
    out, size, ok = rays_to_objects(h)
    return _back(cmap, out), size, ok & (cmap[:, BG] != BG)


@register("rays_diag_major", FAMILY)
def rays_diag_major(g: GridBatch):
    """Diagonal rays of every pixel over the grid's most common colour (as the background), stopping at obstacles.
    Not ok where rays of two colours meet or where the background is already 0 (``rays_diag``'s case)."""
    h, cmap = major(g)
    fg, bg = fg_of(h), bg_of(h)
    code = torch.where(fg, h.cells, -1).to(torch.int8)
    hi, lo = _claims(h)
    for dr, dc in DIAG:
        back = first_code(code, dr, dc).long()
        hi, lo = _claim(hi, lo, bg & (back >= 0), back)
    out, painted, clash = _painted(h.cells, hi, lo)
    return _back(cmap, out), g.size, painted.flatten(1).any(1) & ~clash & (cmap[:, BG] != BG)


@register("centre_lines_fit", FAMILY, fitted=True)
def centre_lines_fit(g: GridBatch, demos: DemoTargets):
    """Full rows and columns through the centre of every object (8-connected, one colour; a side of even length has
    no centre line) drawn on the background (the grid's most common colour) in a fitted colour."""
    h, _ = major(g)
    c = components(h)
    n, s = len(g), h.side
    rows, cols = coords(s, h.cells.device)
    hits = []
    for a, b in ((c.top, c.bottom), (c.left, c.right)):
        mid = (a + b) // 2
        centred = c.is_obj & ((a + b) % 2 == 0)
        idx = torch.where(centred, mid, s).long()
        mark = torch.zeros(n, s + 1, dtype=torch.int32, device=h.cells.device).scatter_(1, idx, 1)[:, :s] > 0
        hits.append(mark)
    on = (hits[0][:, :, None] | hits[1][:, None, :]) & bg_of(h)
    col, ok = fit_colour(on, demos)
    out = torch.where(on, col[:, None, None], g.cells)
    return out, g.size, ok & changed(g.cells, out, demos.slots)


def _run_pos(mask: Tensor, dr: int, dc: int) -> Tensor:
    """[N, s, s] int8: for a cell of ``mask``, its 1-based position in its run of mask cells along (dr, dc) (the
    distance back to the first cell off the mask, the board's edge counting as off); 0 off the mask. Pointer
    doubling: 5 shifts cover the board."""
    far = 99
    d = torch.where(~shift(mask, -dr, -dc, False), 1, far).to(torch.int8)
    step = 1
    for _ in range(5):
        d = torch.where(d < far, d, (shift(d, -dr * step, -dc * step, far) + step).clamp(max=far))
        step *= 2
    return torch.where(mask, d, 0)


AXES = ((0, 1), (1, 0), (1, 1), (1, -1))


@register("alternate_run_fit", FAMILY, fitted=True)
def alternate_run_fit(g: GridBatch, demos: DemoTargets):
    """Every second cell of each run of non-background cells (along rows, columns, diagonals or anti-diagonals,
    fitted) takes a fitted colour: the 2nd, 4th, ... cell counted from the run's start."""
    fg = fg_of(g)

    return _paint_choice(g, demos, [(_run_pos(fg, dr, dc) % 2 == 0) & fg for dr, dc in AXES])


@register("edge_projection_fit", FAMILY, fitted=True)
def edge_projection_fit(g: GridBatch, demos: DemoTargets):
    """Background cells that see a non-background cell both along a vertical and along a horizontal direction (the
    pair of directions fitted: up or down, left or right) take a fitted colour: marks on two edges project onto
    their crossings."""
    bg = bg_of(g)
    pairs = [(v, u) for v in ((-1, 0), (1, 0)) for u in ((0, -1), (0, 1))]
    return _paint_choice(g, demos, [(first_hit(g, *v) >= 0) & (first_hit(g, *u) >= 0) & bg for v, u in pairs])


@register("rays_bend_fit", FAMILY, fitted=True)
def rays_bend_fit(g: GridBatch, demos: DemoTargets):
    """Every non-background cell casts a ray in one direction to the border (stopping at obstacles); on the border
    the rays turn (clockwise or counter-clockwise) and run along it until an obstacle. Direction and turn fitted."""
    rows, cols = coords(g.side, g.cells.device)
    hh, ww = g.size[:, 0, None, None], g.size[:, 1, None, None]
    cells = _cells8(g)
    opts = []
    for dr, dc in ORTHO:
        hit = first_hit(g, -dr, -dc)                                # the ray going along (dr, dc)
        ray = torch.where(bg_of(g) & (hit >= 0), hit, cells)
        edge = ((rows == hh - 1) if dr > 0 else (rows == 0) if dr < 0 else (cols == ww - 1) if dc > 0 else
                (cols == 0)) & g.inside
        for tr, tc in ((dc, -dr), (-dc, dr)):                     # the two turns
            back = first_code(torch.where(edge & (ray != BG), ray, -1), -tr, -tc)
            opts.append(torch.where(edge & (ray == BG) & (back >= 0), back, ray))
    return _grid_choice(g, demos, opts)


@register("stripes_from_pair", FAMILY)
def stripes_from_pair(g: GridBatch):
    """Two pixels start a repeating pattern of full lines across the grid's short side: lines of the first pixel's
    colour, then the second's, at the pixels' spacing along the long side, repeated to the border."""
    fg = fg_of(g)
    rows, cols = coords(g.side, g.cells.device)
    wide = g.size[:, 1] > g.size[:, 0]
    pos = torch.where(wide[:, None, None], cols, rows)             # [N, s, s] position along the long side
    first = torch.where(fg, pos, PAD * 10).flatten(1).amin(1)
    last = torch.where(fg, pos, -1).flatten(1).amax(1)
    p = (last - first).clamp(min=1)
    ca = torch.where(fg & (pos == first[:, None, None]), g.cells, -1).flatten(1).amax(1)
    cb = torch.where(fg & (pos == last[:, None, None]), g.cells, -1).flatten(1).amax(1)
    ok = (fg.flatten(1).sum(1) == 2) & (last > first) & (g.size[:, 0] != g.size[:, 1])
    off = pos - first[:, None, None]
    ph = torch.remainder(off, 2 * p[:, None, None])
    e = lambda t: t[:, None, None]  # noqa: E731
    out = torch.where((off >= 0) & (ph == 0), e(ca), torch.where((off >= 0) & (ph == e(p)), e(cb), BG))
    out = torch.where(g.inside, out, PAD)
    return out, g.size, ok


@register("tip_ray", FAMILY)
def tip_ray(g: GridBatch):
    """The one odd-coloured cell of a two-colour object casts a ray of its colour from itself through the object's
    centre (the centre in line with it along a row or column) and on to the border, drawn on the background."""
    c = components(g, diag=True, multi=True)
    n, s, nc = len(g), g.side, g.side * g.side
    lab = c.label.reshape(n, nc).long().clamp(max=nc - 1)
    cells = g.cells.reshape(n, nc).long().clamp(max=N_COLOURS - 1)
    own = c.colcount.gather(2, lab[:, None, :].expand(n, N_COLOURS, nc)).gather(1, cells[:, None, :])[:, 0]
    ncol = c.ncol.gather(1, lab)
    marker = (c.fg.reshape(n, nc) & (own == 1) & (ncol == 2)).view(n, s, s)
    rows, cols = coords(s, g.cells.device)
    dr2 = (c.cell(c.top) + c.cell(c.bottom)) - 2 * rows
    dc2 = (c.cell(c.left) + c.cell(c.right)) - 2 * cols
    hi, lo = _claims(g)
    colour = g.cells.long()
    for dr, dc in ORTHO:
        src = marker & (torch.sign(dr2) == dr) & (torch.sign(dc2) == dc)
        code = torch.where(src, colour, -1).to(torch.int8)
        back = first_code(code, -dr, -dc).long()
        hi, lo = _claim(hi, lo, bg_of(g) & (back >= 0), back)
    out, painted, clash = _painted(g.cells, hi, lo)
    return out, g.size, painted.flatten(1).any(1) & ~clash


@register("midpoint_fit", FAMILY, fitted=True)
def midpoint_fit(g: GridBatch, demos: DemoTargets):
    """The background cell halfway between two pixels facing each other along a row or a column (an odd gap) takes
    a fitted colour."""
    mid = torch.zeros_like(g.inside)
    for a, b in (((0, -1), (0, 1)), ((-1, 0), (1, 0))):
        ca, da = first_hit(g, *a, dist=True)
        cb, db = first_hit(g, *b, dist=True)
        mid = mid | ((ca >= 0) & (cb >= 0) & (da == db))
    mid = mid & bg_of(g)
    c, ok = fit_colour(mid, demos)
    out = torch.where(mid, c[:, None, None], g.cells)
    return out, g.size, ok & changed(g.cells, out, demos.slots)


def _repeat_rows(cells: Tensor, fg: Tensor) -> tuple[Tensor, Tensor]:
    """Per row whose non-background cells form one run of 2 or more cells: that run repeated along the whole row.
    (on [N, s, s]: background cells of such rows, colour [N, s, s])."""
    s = cells.shape[-1]
    cols = torch.arange(s, device=cells.device).view(1, 1, s)
    first = torch.where(fg, cols, s).amin(2, keepdim=True)
    last = torch.where(fg, cols, -1).amax(2, keepdim=True)
    cnt = fg.sum(2, keepdim=True)
    run = (cnt >= 2) & (last - first + 1 == cnt)
    src = first + torch.remainder(cols - first, cnt.clamp(min=1))
    colour = cells.gather(2, src.clamp(0, s - 1).expand_as(cells))
    return run & ~fg, colour


@register("repeat_runs", FAMILY)
def repeat_runs(g: GridBatch):
    """Every row and every column whose non-background cells form one run of two or more cells repeats that run
    periodically along the whole line (background cells only). Not ok where a row and a column repeat disagree."""
    fg = fg_of(g)
    on_r, col_r = _repeat_rows(g.cells, fg)
    on_c, col_c = _repeat_rows(g.cells.transpose(1, 2), fg.transpose(1, 2))
    on_c, col_c = on_c.transpose(1, 2), col_c.transpose(1, 2)
    ins = g.inside
    hi, lo = _claims(g)
    hi, lo = _claim(hi, lo, on_r & ins, col_r.long())
    hi, lo = _claim(hi, lo, on_c & ins, col_c.long())
    out, painted, clash = _painted(g.cells, hi, lo)
    return out, g.size, painted.flatten(1).any(1) & ~clash


def _fitted_rays(hi: Tensor, lo: Tensor, rays: list[tuple[Tensor, Tensor]], demos: DemoTargets,
                 per_ray: bool = False):
    """Claim ray cells for the colours whose demo ray cells all hold their colour in the demo outputs. ``rays``:
    (on [N, s, s], colour [N, s, s] 0..9) pairs, fitted together (a colour paints in all of them or none) or, with
    ``per_ray``, each ray set on its own (a colour paints in some of them). One fit for all: where ray sets
    overlap, a cell counts for the first only."""
    r = len(rays) if per_ray else 1
    seen, merged = rays[0][0], rays[0][1] * r
    for i, (on, key) in enumerate(rays[1:], 1):
        merged, seen = torch.where(seen, merged, key * r + (i if per_ray else 0)), seen | on
    ar = torch.arange(N_COLOURS * r, device=merged.device)
    nz = key_colours(merged, seen, demos, N_COLOURS * r)                           # [M, 10 r, 11]
    keep = nz.gather(2, (ar // r).expand(nz.shape[0], N_COLOURS * r)[..., None])[..., 0]
    flag = per_slot(keep & (nz.sum(-1) == 1) & (ar // r != BG), demos.slots)
    for i, (on, key) in enumerate(rays):
        idx = key * r + (i if per_ray else 0)
        hi, lo = _claim(hi, lo, on & flag.gather(1, idx.reshape(idx.shape[0], -1)).view_as(idx), key)
    return hi, lo


@register("wall_rays_fit", FAMILY, fitted=True)
def wall_rays_fit(g: GridBatch, demos: DemoTargets):
    """A full row or column of one colour is a wall: every other pixel casts a ray of its colour towards the wall or
    away from it to the border, fitted per colour (stopping at obstacles)."""
    fg, bg = fg_of(g), bg_of(g)
    rows, cols = coords(g.side, g.cells.device)
    full_r = (fg | ~g.inside).all(2) & (_line_colour(g, 2)[:, :, 0] >= 0) & (g.size[:, :1] > rows[None, :, 0])
    full_c = (fg | ~g.inside).all(1) & (_line_colour(g, 1)[:, 0, :] >= 0) & (g.size[:, 1:] > cols[None, 0, :])
    one = full_r.sum(1) + full_c.sum(1) == 1
    wr = torch.where(full_r, rows[None, :, 0], -1).amax(1)[:, None, None]
    wc = torch.where(full_c, cols[None, 0, :], -1).amax(1)[:, None, None]
    wall = (rows == wr) | (cols == wc)
    to_r = torch.where(wr >= 0, torch.sign(wr - rows), 0)          # the direction towards the wall
    to_c = torch.where(wc >= 0, torch.sign(wc - cols), 0)
    own = g.cells.long().clamp(max=N_COLOURS - 1)
    hi, lo = _claims(g)
    for way in (1, -1):                                              # towards, away
        rays = []
        for dr, dc in ORTHO:
            src = fg & ~wall & (to_r * way == dr) & (to_c * way == dc)
            code = torch.where(fg, own + torch.where(src, N_COLOURS, 0), -1).to(torch.int8)
            back = first_code(code, -dr, -dc).long()
            rays.append((bg & (back >= N_COLOURS), (back - N_COLOURS).clamp(0, N_COLOURS - 1)))
        hi, lo = _fitted_rays(hi, lo, rays, demos)
    out, painted, clash = _painted(g.cells, hi, lo)
    return out, g.size, one & painted.flatten(1).any(1) & ~clash & per_slot(same_size(g.size, demos), demos.slots)


@register("rays_detour_fit", FAMILY, fitted=True)
def rays_detour_fit(g: GridBatch, demos: DemoTargets):
    """The pixels on one border cast rays of their colour across the grid; a ray blocked by an obstacle steps aside
    by one cell just before it and goes on (once). The border (so the direction) and the side fitted."""
    fg, bg = fg_of(g), bg_of(g)
    rows, cols = coords(g.side, g.cells.device)
    hh, ww = g.size[:, 0, None, None], g.size[:, 1, None, None]
    colour = _cells8(g)
    opts = []
    for dr, dc in ORTHO:
        start = (rows == hh - 1) if dr < 0 else (rows == 0) if dr > 0 else (cols == ww - 1) if dc < 0 else (cols == 0)
        src = fg & start & g.inside
        back = first_code(torch.where(fg, colour + torch.where(src, N_COLOURS, 0).to(torch.int8), -1), -dr, -dc)
        on1 = bg & (back >= N_COLOURS)
        ray1 = torch.where(on1, back - N_COLOURS, colour)
        stop = on1 & shift(fg, dr, dc, False)
        for sr, sc in ((dc, dr), (-dc, -dr)):                        # the two sides
            side = shift(stop, -sr, -sc, False) & bg                  # the cell beside a stop
            side_c = shift(back, -sr, -sc, 0)
            back2 = first_code(torch.where(fg, colour, torch.where(side, side_c, -1)), -dr, -dc)
            on2 = (bg & (back2 >= N_COLOURS)) | side
            opts.append(torch.where(on2, torch.where(side, side_c, back2) - N_COLOURS, ray1))
    return _grid_choice(g, demos, opts)


@register("corner_trails_fit", FAMILY, fitted=True)
def corner_trails_fit(g: GridBatch, demos: DemoTargets):
    """The marker colour is the one that vanishes (in the demo inputs, never in the demo outputs; the smallest if
    several). An object of the marker and one other colour whose bounding-box corner holds the marker slides
    diagonally towards that corner to the border, leaving a trail of its other colour (the object itself recoloured
    too); one trail per marked corner. Not ok where trails of two colours meet or where no corner is marked."""
    pin, pout = _demo_palettes(g, demos)
    gone = pin & ~pout & (torch.arange(N_COLOURS, device=g.cells.device) != BG)
    mark = per_slot(gone.int().argmax(1), demos.slots)[:, None, None]
    has_mark = per_slot(gone.any(1), demos.slots)
    c = components(g, diag=True, multi=True)
    n, nc = len(g), c.ncell
    rows, cols = coords(g.side, g.cells.device)
    is_mark = (g.cells == mark).reshape(n, nc)
    flat = g.cells.reshape(n, nc).int()
    other_hi = c.scatter(torch.where(is_mark, -1, flat), "amax", -1)
    other_lo = c.scatter(torch.where(is_mark, PAD, flat), "amin", PAD)
    two = c.is_obj & (c.scatter(is_mark.int(), "amax", 0) > 0) & (other_hi == other_lo)
    marked = c.cell(two, False) & (g.cells == mark)
    main = c.cell(other_hi).long()
    top, bottom, left, right = (c.cell(t) for t in (c.top, c.bottom, c.left, c.right))
    hi, lo = _claims(g)
    for dr, dc in DIAG:
        corner = marked & (rows == (bottom if dr > 0 else top)) & (cols == (right if dc > 0 else left))
        lab = torch.where(corner, c.label, nc).flatten(1).long()
        hit = torch.zeros(n, nc + 1, dtype=torch.bool, device=g.cells.device).scatter(1, lab, True)[:, :nc]
        src = c.cell(hit, False)                                   # the objects marked at this corner
        code = torch.where(src, main, -1).to(torch.int8)
        back = first_code(code, -dr, -dc).long()
        on = (src | ((back >= 0) & bg_of(g))) & g.inside
        hi, lo = _claim(hi, lo, on, torch.where(src, main, back))
    out, painted, clash = _painted(g.cells, hi, lo)
    return out, g.size, has_mark & painted.flatten(1).any(1) & ~clash


@register("region_diagonals", FAMILY)
def region_diagonals(g: GridBatch):
    """Lone marker pixels (no 8-neighbour of their colour; y the most common colour of their 8-neighbours) set a
    code y -> their colour x; both diagonals through every marker are drawn across the whole grid, each cell of
    colour y on them taking code(y). Not ok where two markers code one colour differently or no marker exists."""
    n, s = len(g), g.side
    cells = g.cells.long().clamp(max=N_COLOURS - 1)
    ins = g.inside
    votes = torch.zeros(n, N_COLOURS, s, s, dtype=torch.int8, device=cells.device)
    same = torch.zeros_like(ins)
    for dr, dc in ORTHO + DIAG:
        nb, nb_in = shift(cells, dr, dc, 0), shift(ins, dr, dc, False)
        votes.scatter_add_(1, nb[:, None], nb_in[:, None].to(torch.int8))
        same = same | (nb_in & (nb == cells))
    region = votes.argmax(1)                                          # the most common 8-neighbour colour
    marker = ins & ~same & (votes.amax(1) > 0)
    key = torch.where(marker, region, N_COLOURS).flatten(1)                # the region colour y, 10: dump
    val = cells.flatten(1)
    top = torch.full((n, N_COLOURS + 1), -1, dtype=torch.long, device=cells.device).scatter_reduce(1, key, val, "amax")
    low = torch.full((n, N_COLOURS + 1), N_COLOURS, dtype=torch.long, device=cells.device).scatter_reduce(
        1, key, val, "amin")
    code, consistent = top[:, :N_COLOURS], ((top == low) | (top < 0))[:, :N_COLOURS]
    rows, cols = coords(s, cells.device)
    d1, d2 = (rows - cols + s - 1).expand_as(cells), (rows + cols).expand_as(cells)
    on = torch.zeros_like(ins)
    for d in (d1, d2):
        hit = torch.zeros(n, 2 * s, dtype=torch.bool, device=cells.device)
        hit = hit.scatter(1, torch.where(marker, d, 2 * s - 1).flatten(1), True)
        hit[:, 2 * s - 1] = False
        on = on | hit.gather(1, d.reshape(n, -1)).view_as(on)
    colour = code.gather(1, cells.reshape(n, -1)).view_as(cells)
    paint = on & ins & ~marker & (colour >= 0)
    out = torch.where(paint, colour, g.cells)
    return out, g.size, consistent.all(1) & marker.flatten(1).any(1) & (out != g.cells).flatten(1).any(1)


@register("bounce_tails_fit", FAMILY, fitted=True)
def bounce_tails_fit(g: GridBatch, demos: DemoTargets):
    """Diagonal line ends grow (as in ``extend_tails``) in a fitted colour; a ray stopped by an obstacle bounces off
    it once (the blocked component of its direction reversed, both where it hits a corner) and goes on."""
    fg, bg = fg_of(g), bg_of(g)
    count = sum(shift(fg, dr, dc, False).int() for dr, dc in ORTHO + DIAG)
    tail = fg & (count == 1)
    mask = torch.zeros_like(fg)
    bounce = {d: torch.zeros_like(fg) for d in DIAG}     # the stops that go on along each diagonal
    for dr, dc in DIAG:                                  # the ray goes along (er, ec) = -(dr, dc)
        er, ec = -dr, -dc
        src = tail & shift(fg, dr, dc, False)
        code = torch.where(fg, torch.where(src, 1, 0), -1).to(torch.int8)
        on1 = bg & (first_code(code, dr, dc) == 1)
        stop = on1 & shift(fg, er, ec, False)
        flip_r, flip_c = shift(fg, er, 0, False), shift(fg, 0, ec, False)
        mask = mask | on1
        for new, at in (((-er, ec), flip_r & ~flip_c), ((er, -ec), flip_c & ~flip_r), ((-er, -ec), ~(flip_r ^ flip_c))):
            bounce[new] = bounce[new] | (stop & at)
    for (nr, nc), src2 in bounce.items():
        code2 = torch.where(fg, 0, torch.where(src2, 1, -1)).to(torch.int8)
        mask = mask | (bg & (first_code(code2, -nr, -nc) == 1))
    c, ok = fit_colour(mask, demos)
    out = torch.where(mask, c[:, None, None], g.cells)
    return out, g.size, ok & changed(g.cells, out, demos.slots)


@register("staircase_fit", FAMILY, fitted=True)
def staircase_fit(g: GridBatch, demos: DemoTargets):
    """A lone horizontal segment grows a staircase: each row above holds a run one cell longer than the row below it,
    each row below one cell shorter, all starting at the segment's fixed end (its left end, or its right end:
    fitted); the runs above and the runs below take two fitted colours."""
    fg = fg_of(g)
    rows, cols = coords(g.side, g.cells.device)
    top, left, bottom, right = _box(fg)
    seg = (top == bottom) & (fg.flatten(1).sum(1) == right - left + 1)
    e = lambda x: x[:, None, None]  # noqa: E731
    up, down = rows < e(top), rows > e(top)
    dist = (rows - e(top)).abs()
    bg = bg_of(g)

    def make(k: Tensor):
        from_left = e(k == 0)
        length = torch.where(up, e(right - left + 1) + dist, e(right - left + 1) - dist)
        off = torch.where(from_left, cols - e(left), e(right) - cols)
        run = (off >= 0) & (off < length) & bg & e(seg)
        out = g.cells
        ok = seg
        for side in (up, down):
            m = run & side
            c, fit_ok, seen = fit_colour(m, demos, with_seen=True)
            out = torch.where(m, c[:, None, None], out)
            ok = ok & fit_ok & seen
        return out, g.size, ok & changed(g.cells, out, demos.slots)

    k, _ = fit_choice(demos, 2, make)
    return make(k)


@register("frame_corner_rays", FAMILY)
def frame_corner_rays(g: GridBatch):
    """With two colours, one of them a frame (its bounding box holds the other's): diagonal rays leave the frame's
    outer corners (background at the diagonal step and at both orthogonal steps towards it) in the other colour,
    stopping at obstacles."""
    fg, bg = fg_of(g), bg_of(g)
    cnt = g.counts.clone()
    cnt[:, BG] = 0
    order = cnt.argsort(1, descending=True)
    ca, cb = order[:, 0, None, None], order[:, 1, None, None]
    ma, mb = fg & (g.cells == ca), fg & (g.cells == cb)
    (ta, la, ba, ra), (tb, lb, bb, rb) = _box(ma), _box(mb)
    a_holds = (ta <= tb) & (la <= lb) & (ba >= bb) & (ra >= rb)
    b_holds = (tb <= ta) & (lb <= la) & (bb >= ba) & (rb >= ra)
    ok = ((cnt > 0).sum(1) == 2) & (a_holds ^ b_holds)
    frame = torch.where(a_holds[:, None, None], ma, mb)
    other_c = torch.where(a_holds[:, None, None], cb, ca)
    hi, lo = _claims(g)
    for dr, dc in DIAG:
        src = frame & shift(bg, dr, dc, False) & ~shift(fg, dr, 0, False) & ~shift(fg, 0, dc, False)
        code = torch.where(fg, torch.where(src, 1, 0), -1).to(torch.int8)
        on = bg & (first_code(code, -dr, -dc) == 1)
        hi, lo = _claim(hi, lo, on, other_c.expand_as(on))
    out, painted, clash = _painted(g.cells, hi, lo)
    return out, g.size, ok & painted.flatten(1).any(1) & ~clash


@register("connect_across_lines", FAMILY)
def connect_across_lines(g: GridBatch):
    """``connect_hv`` on a grid of cells: the most common non-background colour (the separator lines) is seen
    through, so same-colour blocks of a row or column of cells are joined; the lines stay."""
    cnt = g.counts.clone()
    cnt[:, BG] = 0
    line = cnt.argmax(1)[:, None, None]
    mask, colour = _connect(GridBatch(torch.where(g.cells == line, BG, g.cells), g.size), True, True)
    mask = mask & bg_of(g)
    return torch.where(mask, colour, g.cells), g.size, mask.flatten(1).any(1)
