"""Moving primitives: objects that slide as rigid wholes toward anchors.

Anchors are the colours the demos never move (every demo input cell of such a colour keeps it in the demo output),
fitted per candidate; every other non-background object (8-connected, multicolour) is a mover. A mover looks along
the 4 orthogonal directions, then (if none hits) the 4 diagonals, for the nearest anchor cell seen from any of its
cells (rays pass over movers); it travels that way until it touches the anchor or the movers stacked before it.
"""
from __future__ import annotations

import torch
from torch import Tensor

from topas_lit.modules.dsl.colour import DIAG, ORTHO, changed, key_colours, per_slot, register, same_size, shift
from topas_lit.modules.dsl.components import components, label_components, match_targets
from topas_lit.modules.dsl.grid import BG, N_COLOURS, PAD, bbox, coords, remap
from topas_lit.modules.dsl.registry import DemoTargets, GridBatch

FAMILY = "moving"
FAR = 99          # distance when no anchor is hit (int16 arithmetic stays far from overflow)


def anchor_colours(g: GridBatch, demos: DemoTargets) -> Tensor:
    """[N, 10] bool: non-background colours seen in the demo inputs whose cells always keep their colour in the demo
    outputs (the colours that never move), per candidate, broadcast to its slots."""
    nz = key_colours(g.cells.long().clamp(max=N_COLOURS - 1), g.inside & (g.cells != BG), demos, N_COLOURS)
    ar = torch.arange(N_COLOURS, device=g.cells.device)
    own = nz[..., :N_COLOURS] & (ar[:, None] == ar[None, :])                 # [M, 10, 10]: colour c met c
    keep = own.any(-1) & (nz.sum(-1) == 1) & (ar != BG)
    return per_slot(keep, demos.slots)


def ray_scan(anchor: Tensor, mover: Tensor, colour: Tensor, dr: int, dc: int) -> tuple[Tensor, Tensor, Tensor]:
    """Per cell, looking along (dr, dc): distance to the first anchor cell (FAR if none), the number of mover cells
    strictly before it and its colour. Pointer doubling over segments (5 doublings cover 32 cells)."""
    found = shift(anchor, dr, dc, False)
    dist = torch.where(found, 1, FAR).to(torch.int16)
    cnt = torch.where(found, 0, shift(mover, dr, dc, False).to(torch.int16))
    col = shift(colour, dr, dc, 0)
    step = 1
    for _ in range(5):
        f2 = shift(found, dr * step, dc * step, False)
        d2 = shift(dist, dr * step, dc * step, FAR)
        c2 = shift(cnt, dr * step, dc * step, 0)
        k2 = shift(col, dr * step, dc * step, 0)
        dist = torch.where(found, dist, (d2 + step).clamp(max=FAR))
        cnt = torch.where(found, cnt, cnt + c2)
        col = torch.where(found, col, k2)
        found = found | f2
        step *= 2
    return dist, cnt, col


def slide(g: GridBatch, anchor_set: Tensor):
    """Every mover's move toward its anchor: (label [N, s*s] flat, move table per object (dr, dc, reach, hit colour)
    as tensors, ok). Returns the per-cell destination pieces needed by ``place``."""
    n, s = len(g), g.side
    nc = s * s
    colour = g.cells.long().clamp(0, N_COLOURS - 1)
    fg = g.inside & (g.cells != BG)
    anchor = fg & anchor_set.gather(1, colour.reshape(n, -1)).view_as(fg)
    mover = fg & ~anchor
    label = label_components(g.cells, mover, diag=True, multi=True).reshape(n, nc).long()
    mflat = mover.reshape(n, nc)

    def per_obj(val: Tensor, init: int, reduce: str) -> Tensor:
        out = torch.full((n, nc + 1), init, dtype=val.dtype, device=val.device)
        return out.scatter_reduce(1, label, val.reshape(n, nc), reduce)[:, :nc]

    best = torch.full((n, nc), FAR, dtype=torch.int16, device=g.cells.device)
    ties = torch.zeros((n, nc), dtype=torch.bool, device=g.cells.device)
    pick_d = torch.zeros((n, nc), dtype=torch.long, device=g.cells.device)
    reach = torch.zeros((n, nc), dtype=torch.int16, device=g.cells.device)
    hitcol = torch.zeros((n, nc), dtype=torch.long, device=g.cells.device)
    col8 = colour.to(torch.int8)
    for group in (ORTHO, DIAG):
        g_best = torch.full_like(best, FAR)
        g_ties = torch.zeros_like(ties)
        g_pick, g_reach, g_col = torch.zeros_like(pick_d), torch.zeros_like(reach), torch.zeros_like(hitcol)
        for k, (dr, dc) in enumerate(group):
            d_idx = k + (0 if group is ORTHO else 4)
            dist, cnt, col = ray_scan(anchor, mover, col8, dr, dc)
            hit = mover & (dist < FAR)
            near = per_obj(torch.where(hit, dist, FAR).to(torch.int16), FAR, "amin")
            room = per_obj(torch.where(hit, dist - 1 - cnt, FAR).to(torch.int16), FAR, "amin")
            hcol = per_obj(torch.where(hit, col.long(), -1), -1, "amax")
            better = near < g_best
            g_ties = torch.where(better, False, g_ties | ((near == g_best) & (near < FAR)))
            g_pick = torch.where(better, d_idx, g_pick)
            g_reach = torch.where(better, room, g_reach)
            g_col = torch.where(better, hcol, g_col)
            g_best = torch.minimum(g_best, near)
        use = (best >= FAR) & (g_best < FAR)            # the orthogonal group wins whenever it hits
        ties = torch.where(use, g_ties, ties)
        pick_d = torch.where(use, g_pick, pick_d)
        reach = torch.where(use, g_reach, reach)
        hitcol = torch.where(use, g_col, hitcol)
        best = torch.where(use, g_best, best)
    is_obj = per_obj(mflat.int(), 0, "amax") > 0
    bad = is_obj & ((best >= FAR) | ties)
    ok = ~bad.any(1) & is_obj.any(1) & anchor.flatten(1).any(1)
    return label, mover, anchor, pick_d, reach.long(), hitcol, ok


DIRS = torch.tensor(ORTHO + DIAG)


def place(g: GridBatch, label: Tensor, mover: Tensor, anchor: Tensor, pick_d: Tensor, steps: Tensor,
          recolour: Tensor | None, keep: Tensor | None = None):
    """Move every mover object by ``steps`` (per object, indexed by ``label [N, s*s]``) along its direction
    ``pick_d`` (an index into ORTHO + DIAG), optionally recoloured (per object); movers off ``keep`` are erased.
    Returns (cells, ok): not ok where a mover lands on an anchor, off the grid or on another of a different colour."""
    n, s = len(g), g.side
    nc = s * s
    dev = g.cells.device
    lab = label.clamp(max=nc - 1)
    d = pick_d.gather(1, lab)                          # per cell
    k = steps.gather(1, lab)
    dirs = DIRS.to(dev)
    idx = torch.arange(nc, device=dev)
    r = idx // s + dirs[:, 0][d] * k
    c = idx % s + dirs[:, 1][d] * k
    h, w = g.size[:, 0, None], g.size[:, 1, None]
    erase = mover.reshape(n, nc)
    mflat = erase if keep is None else erase & keep.reshape(n, nc)
    inb = (r >= 0) & (c >= 0) & (r < h) & (c < w)
    dest = torch.where(mflat & inb, r.clamp(0, s - 1) * s + c.clamp(0, s - 1), nc)
    colour = g.cells.reshape(n, nc).long()
    if recolour is not None:
        colour = torch.where(mflat, recolour.gather(1, lab).clamp(0, N_COLOURS - 1), colour)
    hi = torch.full((n, nc + 1), -1, dtype=torch.long, device=dev).scatter_reduce(1, dest, colour, "amax")[:, :nc]
    lo = torch.full((n, nc + 1), PAD, dtype=torch.long, device=dev).scatter_reduce(1, dest, colour, "amin")[:, :nc]
    placed = hi >= 0
    clash = (placed & ((hi != lo) | anchor.reshape(n, nc))).any(1) | (mflat & ~inb).any(1)
    out = torch.where(placed, hi, torch.where(erase, BG, g.cells.reshape(n, nc))).view(n, s, s)
    return out, ~clash


def _moved(g: GridBatch, demos: DemoTargets, one_step: bool):
    gs = demos.slots
    label, mover, anchor, pick_d, reach, hitcol, ok = slide(g, anchor_colours(g, demos))
    steps = reach.clamp(max=1) if one_step else reach
    ok = ok & per_slot(same_size(g.size, demos), gs)
    return label, mover, anchor, pick_d, steps, hitcol, ok


@register("slide_to_anchor_fit", FAMILY, fitted=True)
def slide_to_anchor_fit(g: GridBatch, demos: DemoTargets):
    """Movers (objects of the colours the demos move) slide toward the nearest anchor (the colours never moved) seen
    along an orthogonal, else a diagonal, ray until they touch it (or the movers stacked before them); with a
    fitted option they take the colour of the anchor they reach. Not ok where a mover sees no anchor or two at
    once, or where movers land on each other with different colours."""
    label, mover, anchor, pick_d, steps, hitcol, ok = _moved(g, demos, False)
    plain, ok1 = place(g, label, mover, anchor, pick_d, steps, None)
    tinted, ok2 = place(g, label, mover, anchor, pick_d, steps, hitcol)
    e1, _ = match_targets(plain, g.size, ok & ok1, demos)
    e2, _ = match_targets(tinted, g.size, ok & ok2, demos)
    use = per_slot(~e1 & e2, demos.slots)            # the anchor's colour only where it alone fits the demos
    out = torch.where(use[:, None, None], tinted, plain)
    ok = ok & torch.where(use, ok2, ok1)
    return out, g.size, ok & changed(g.cells, out, demos.slots)


@register("step_to_anchor_fit", FAMILY, fitted=True)
def step_to_anchor_fit(g: GridBatch, demos: DemoTargets):
    """Like ``slide_to_anchor_fit`` but every mover not yet touching its anchor moves one cell toward it."""
    label, mover, anchor, pick_d, steps, _, ok = _moved(g, demos, True)
    out, ok1 = place(g, label, mover, anchor, pick_d, steps, None)
    return out, g.size, ok & ok1 & changed(g.cells, out, demos.slots)


def _next_on(a: Tensor, dim: int, forward: bool) -> Tensor:
    """Per cell, the distance along ``dim`` (1 rows, 2 columns) to the nearest cell of ``a [N, s, s]`` strictly ahead
    (``forward``: larger index) or behind; FAR (or more) if none. int16."""
    s = a.shape[-1]
    idx = torch.arange(s, device=a.device, dtype=torch.int16)
    pos = idx.view(1, s, 1) if dim == 1 else idx.view(1, 1, s)
    if forward:
        nxt = torch.where(a, pos, FAR + s).flip(dim).cummin(dim).values.flip(dim)
        nxt = shift(nxt, 1 if dim == 1 else 0, 1 if dim == 2 else 0, FAR + s)
        return nxt - pos
    prv = torch.where(a, pos, -FAR).cummax(dim).values
    prv = shift(prv, -1 if dim == 1 else 0, -1 if dim == 2 else 0, -FAR)
    return pos - prv


@register("pull_pixels_to_colour", FAMILY)
def pull_pixels_to_colour(g: GridBatch):
    """Lone pixels (8-connected objects of one cell) are pulled along the nearest orthogonal ray that meets a larger
    object of their own colour (passing over anything else) until they touch it; pixels that see none vanish. Not ok
    where a pixel sees two such objects at the same distance, where no larger object exists or nothing changes."""
    n, s = len(g), g.side
    nc = s * s
    comp = components(g, diag=True, multi=False)
    fg = comp.fg
    pixel = comp.cell(comp.count == 1, False)
    big = fg & ~pixel
    dist = [torch.full((n, s, s), FAR, dtype=torch.int16, device=g.cells.device) for _ in ORTHO]
    for c in range(1, N_COLOURS):
        own = g.cells == c
        a, mine = big & own, pixel & own
        for k, (dim, forward) in enumerate(((1, True), (1, False), (2, True), (2, False))):   # ORTHO's order
            dist[k] = torch.where(mine, _next_on(a, dim, forward), dist[k])
    dist = torch.stack(dist, 0).clamp(max=FAR)
    best = dist.amin(0)
    tie = pixel & (best < FAR) & ((dist == best).sum(0) > 1)
    pick = dist.argmin(0).reshape(n, nc)
    steps = (best.long() - 1).clamp(min=0).reshape(n, nc)
    label = torch.arange(nc, device=g.cells.device).expand(n, nc)
    out, ok = place(g, label, pixel, big, pick, steps, None, keep=pixel & (best < FAR))
    ok = ok & ~tie.flatten(1).any(1) & big.flatten(1).any(1) & pixel.flatten(1).any(1)
    return out, g.size, ok & changed(g.cells, out)


@register("centre_on_anchor_fit", FAMILY, fitted=True)
def centre_on_anchor_fit(g: GridBatch, demos: DemoTargets):
    """All movers (cells of the colours the demos move) translate together so that their bounding box is centred on
    the anchors' (the colours never moved), e.g. a shape brought into the frame its corner marks span. Not ok where
    the centres differ by half a cell, where a mover would land on an anchor or off the grid, or nothing moves."""
    n, s = len(g), g.side
    anchor_set = anchor_colours(g, demos)
    colour = g.cells.long().clamp(0, N_COLOURS - 1)
    fg = g.inside & (g.cells != BG)
    anchor = fg & anchor_set.gather(1, colour.reshape(n, -1)).view_as(fg)
    mover = fg & ~anchor
    at, al, ah, aw, has_a = bbox(anchor)
    mt, ml, mh, mw, has_m = bbox(mover)
    twice_r, twice_c = 2 * at + ah - 2 * mt - mh, 2 * al + aw - 2 * ml - mw
    dr, dc = twice_r // 2, twice_c // 2
    rows, cols = coords(s, g.cells.device)
    src_r, src_c = rows - dr[:, None, None], cols - dc[:, None, None]
    take = (src_r >= 0) & (src_r < s) & (src_c >= 0) & (src_c < s) & g.inside
    moved = remap(torch.where(mover, g.cells, -1), src_r, src_c, take, -1)
    landed = moved >= 0
    out = torch.where(landed, moved, torch.where(mover, BG, g.cells))
    ok = has_a & has_m & (twice_r % 2 == 0) & (twice_c % 2 == 0)
    ok = ok & (landed.flatten(1).sum(1) == mover.flatten(1).sum(1)) & ~(landed & anchor).flatten(1).any(1)
    ok = ok & per_slot(same_size(g.size, demos), demos.slots)
    return out, g.size, ok & changed(g.cells, out, demos.slots)
