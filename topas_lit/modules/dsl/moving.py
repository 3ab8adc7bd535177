"""Moving primitives: objects that move as rigid wholes, toward anchors or by their own extent.

Anchors are the colours the demos never move (every demo input cell of such a colour keeps it in the demo output),
fitted per candidate; every other non-background object (8-connected, multicolour) is a mover. In
``slide_to_anchor_fit`` / ``step_to_anchor_fit`` a mover looks along the 4 orthogonal directions, then (if none
hits) the 4 diagonals, for the nearest anchor cell seen from any of its cells (rays pass over movers); it travels that
way until it touches the anchor or the movers stacked before it (or one cell). ``centre_on_anchor_fit`` centres the
movers' box on the anchors' box. Plain rules: ``pull_pixels_to_colour`` (lone pixels pulled to the larger object of
their own colour) and ``jump_objs_by_size_fit`` (objects jump their own height or width). Moves are written by
``place``: one scatter of the moved cells, not ok on landing clashes.
"""
from __future__ import annotations

import torch
from torch import Tensor

from topas_lit.modules.dsl.colour import DIAG, ORTHO, changed, key_colours, per_slot, register, same_size, shift
from topas_lit.modules.dsl.components import components, fit_choice, label_components, match_targets
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


def direction_rc(d: Tensor) -> tuple[Tensor, Tensor]:
    """The (row, column) step of direction index ``d`` (long) into ORTHO + DIAG, looked up in a table of 8 entries
    computed on the device (no host data)."""
    t = torch.arange(8, device=d.device)
    dr = torch.where(t < 2, 1 - 2 * t, torch.where(t < 4, 0, torch.where(t < 6, 1, -1)))
    dc = torch.where(t < 2, 0, torch.where(t < 4, 5 - 2 * t, torch.where(t % 2 == 0, 1, -1)))
    return dr.to(torch.int32)[d], dc.to(torch.int32)[d]


NOT_FOUND = 1 << 13   # flag of a ray segment that holds no anchor cell (packed int16: flag | distance << 6 | count)
NO_KEY = 1 << 12      # a ray key of no hit (keys are (distance + DIAG_COST) * 8 + direction < NO_KEY)
DIAG_COST = 100       # added to diagonal distances: an orthogonal hit always wins


def ray_scan(anchor: Tensor, mover: Tensor, dr: int, dc: int) -> Tensor:
    """Per cell, looking along (dr, dc), packed in int16: the distance to the first anchor cell (``>> 6``) and the
    number of mover cells strictly before it (``& 63``), or NOT_FOUND set when the ray meets no anchor. Pointer
    doubling over segments: a segment without an anchor adds its length and count to the next (5 doublings cover
    32 cells)."""
    v = torch.where(shift(anchor, dr, dc, False), 1 << 6,
                    NOT_FOUND + (1 << 6) + shift(mover, dr, dc, False).to(torch.int16)).to(torch.int16)
    step = 1
    for _ in range(5):
        ahead = shift(v, dr * step, dc * step, NOT_FOUND + (step << 6))
        v = torch.where(v < NOT_FOUND, v, v - NOT_FOUND + ahead)
        step *= 2
    return v


def slide(g: GridBatch, anchor_set: Tensor):
    """Every mover object's slide toward its anchor: (label [N, s*s], mover, anchor, direction [N, s*s] per object
    (an index into ORTHO + DIAG), room [N, s*s] per object (cells it can travel), ray [N, s, s] (each cell's packed
    ``ray_scan`` along its object's direction), ok [N]). Not ok where an object sees no anchor or two at once."""
    n, s = len(g), g.side
    nc = s * s
    colour = g.cells.long().clamp(0, N_COLOURS - 1)
    fg = g.inside & (g.cells != BG)
    anchor = fg & anchor_set.gather(1, colour.reshape(n, -1)).view_as(fg)
    mover = fg & ~anchor
    label = label_components(g.cells, mover, diag=True, multi=True).reshape(n, nc).long()

    def per_obj(val: Tensor, init: int) -> Tensor:
        out = torch.full((n, nc + 1), init, dtype=val.dtype, device=val.device)
        return out.scatter_reduce(1, label, val.reshape(n, nc), "amin")[:, :nc]

    rays, keys = [], []
    for d, (dr, dc) in enumerate(ORTHO + DIAG):
        v = ray_scan(anchor, mover, dr, dc)
        rays.append(v)
        keys.append(torch.where(v < NOT_FOUND, ((v >> 6) + DIAG_COST * (d >= 4)) * 8 + d, NO_KEY).to(torch.int16))
    keys = torch.stack(keys)                                             # [8, N, s, s]
    obj_key = per_obj(torch.where(mover, keys.amin(0), NO_KEY), NO_KEY)  # best (distance, direction) per object
    mine = obj_key.gather(1, label.clamp(max=nc - 1)).view(n, s, s)      # each mover cell's object key
    tie = mover & ((keys >> 3) == (mine >> 3)) & (keys != mine) & (keys < NO_KEY)
    lost = mover & (mine >= NO_KEY)
    direction = (obj_key & 7).long()
    ray = torch.stack(rays).gather(0, (mine & 7).long()[None])[0]
    room = torch.where(mover & (ray < NOT_FOUND), (ray >> 6) - 1 - (ray & 63), FAR).to(torch.int16)
    room = per_obj(room, FAR).long()
    ok = ~(tie.any(0) | lost).flatten(1).any(1) & mover.flatten(1).any(1) & anchor.flatten(1).any(1)
    return label, mover, anchor, direction, room, ray, ok


def place(g: GridBatch, label: Tensor, mover: Tensor, anchor: Tensor, pick_d: Tensor, steps: Tensor,
          recolour: Tensor | None, keep: Tensor | None = None):
    """Move every mover object by ``steps`` (per object, indexed by ``label [N, s*s]``) along its direction
    ``pick_d`` (an index into ORTHO + DIAG), optionally recoloured (per object); movers off ``keep`` are erased.
    Returns (cells, ok): not ok where a mover lands on an anchor, off the grid or on another of a different colour."""
    n, s = len(g), g.side
    nc = s * s
    lab = label.clamp(max=nc - 1)
    d = pick_d.gather(1, lab)                                     # per cell
    k = steps.to(torch.int32).gather(1, lab)
    dr, dc = direction_rc(d)
    idx = torch.arange(nc, device=g.cells.device, dtype=torch.int32)
    r, c = idx // s + dr * k, idx % s + dc * k
    h, w = g.size[:, 0, None], g.size[:, 1, None]
    erase = mover.reshape(n, nc)
    mflat = erase if keep is None else erase & keep.reshape(n, nc)
    inb = (r >= 0) & (c >= 0) & (r < h) & (c < w)
    dest = torch.where(mflat & inb, r * s + c, nc).long()
    colour = g.cells.reshape(n, nc).to(torch.int32)
    if recolour is not None:
        colour = torch.where(mflat, recolour.gather(1, lab).clamp(0, N_COLOURS - 1).to(torch.int32), colour)
    hi = torch.full((n, nc + 1), -1, dtype=torch.int32, device=g.cells.device).scatter_reduce(1, dest, colour, "amax")
    clash = mflat & (hi.gather(1, dest) != colour)                # two movers of different colours on one cell
    hi = hi[:, :nc]
    placed = hi >= 0
    clash = clash.any(1) | (placed & anchor.reshape(n, nc)).any(1) | (mflat & ~inb).any(1)
    out = torch.where(placed, hi, torch.where(erase, BG, g.cells.reshape(n, nc))).view(n, s, s)
    return out, ~clash


def _moved(g: GridBatch, demos: DemoTargets):
    """``slide`` with the fitted anchors, cached per (batch, demos) for the primitives of one expansion step."""
    def compute():
        label, mover, anchor, direction, room, ray, ok = slide(g, anchor_colours(g, demos))
        return label, mover, anchor, direction, room, ray, ok & per_slot(same_size(g.size, demos), demos.slots)

    return g.cached(f"moving.slide.{id(demos)}", compute)


def _hit_colour(g: GridBatch, label: Tensor, mover: Tensor, direction: Tensor, ray: Tensor) -> Tensor:
    """[N, s*s] per object: the colour of the anchor cell its rays hit along its direction (the largest if several)."""
    n, s = len(g), g.side
    nc = s * s
    d = direction.gather(1, label.clamp(max=nc - 1))
    dr, dc = direction_rc(d)
    step = dr * s + dc
    hit = mover.reshape(n, nc) & (ray.reshape(n, nc) < NOT_FOUND)
    at = (torch.arange(nc, device=g.cells.device) + (ray.reshape(n, nc).long() >> 6) * step).clamp(0, nc - 1)
    colour = torch.where(hit, g.cells.reshape(n, nc).gather(1, at).long(), -1)
    out = torch.full((n, nc + 1), -1, dtype=torch.long, device=g.cells.device)
    return out.scatter_reduce(1, label, colour, "amax")[:, :nc]


@register("slide_to_anchor_fit", FAMILY, fitted=True)
def slide_to_anchor_fit(g: GridBatch, demos: DemoTargets):
    """Movers (objects of the colours the demos move) slide toward the nearest anchor (the colours never moved) seen
    along an orthogonal, else a diagonal, ray until they touch it (or the movers stacked before them); with a
    fitted option they take the colour of the anchor they reach. Not ok where a mover sees no anchor or two at
    once, or where movers land on each other with different colours."""
    label, mover, anchor, direction, room, ray, ok = _moved(g, demos)
    plain, ok1 = place(g, label, mover, anchor, direction, room, None)
    tinted, ok2 = place(g, label, mover, anchor, direction, room, _hit_colour(g, label, mover, direction, ray))
    e1, _ = match_targets(plain, g.size, ok & ok1, demos)
    e2, _ = match_targets(tinted, g.size, ok & ok2, demos)
    use = per_slot(~e1 & e2, demos.slots)            # the anchor's colour only where it alone fits the demos
    out = torch.where(use[:, None, None], tinted, plain)
    ok = ok & torch.where(use, ok2, ok1)
    return out, g.size, ok & changed(g.cells, out, demos.slots)


@register("step_to_anchor_fit", FAMILY, fitted=True)
def step_to_anchor_fit(g: GridBatch, demos: DemoTargets):
    """Like ``slide_to_anchor_fit`` but every mover not yet touching its anchor moves one cell toward it."""
    label, mover, anchor, direction, room, _, ok = _moved(g, demos)
    out, ok1 = place(g, label, mover, anchor, direction, room.clamp(max=1), None)
    return out, g.size, ok & ok1 & changed(g.cells, out, demos.slots)


def _distance_to(a: Tensor, dr: int, dc: int) -> Tensor:
    """[N, s, s] int8: per cell, the distance to the nearest cell of ``a`` strictly ahead along (dr, dc), FAR if
    none within 32 (pointer doubling on distances)."""
    v = torch.where(shift(a, dr, dc, False), 1, FAR).to(torch.int8)
    step = 1
    for _ in range(5):
        v = torch.minimum(v, shift(v, dr * step, dc * step, FAR) + step)
        step *= 2
    return v


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
    dist = [torch.full((n, s, s), FAR, dtype=torch.int8, device=g.cells.device) for _ in ORTHO]
    for c in range(1, N_COLOURS):
        own = g.cells == c
        a, mine = big & own, pixel & own
        for k, (dr, dc) in enumerate(ORTHO):
            dist[k] = torch.where(mine, _distance_to(a, dr, dc), dist[k])
    key = dist[0].to(torch.int16) * 4
    for k in range(1, 4):
        key = torch.minimum(key, dist[k].to(torch.int16) * 4 + k)    # nearest direction, the first on ties
    best, pick = key >> 2, (key & 3).long().reshape(n, nc)
    tie = pixel & (best < FAR) & sum((dist[k] == best) for k in range(4)).gt(1)
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


@register("jump_objs_by_size_fit", FAMILY, fitted=True)
def jump_objs_by_size_fit(g: GridBatch, demos: DemoTargets):
    """Every object (8-connected, one colour) jumps its own extent along a fitted orthogonal direction: its height
    up or down, its width left or right (e.g. bars lifted by their own height). The direction is the first of
    the four that reproduces every demo output."""
    n, nc = len(g), g.side * g.side
    c = components(g, diag=True, multi=False)
    label = c.label.reshape(n, nc).long()
    none = torch.zeros_like(c.fg)

    def make(k: Tensor):
        d = k[:, None].expand(n, nc)
        steps = torch.where(d < 2, c.height, c.width).long()
        out, ok = place(g, label, c.fg, none, d, steps, None)
        return out, g.size, ok & c.fg.flatten(1).any(1)

    k, fitted = fit_choice(demos, len(ORTHO), make)
    out, size, ok = make(k)
    return out, size, ok & fitted & per_slot(same_size(g.size, demos), demos.slots) & changed(g.cells, out)
