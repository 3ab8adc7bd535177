"""Connected components on padded grids, on the device, with a fixed iteration budget (a library, no primitives).

Labelling is FastSV (Zhang, Azad, Hu 2020) on a parent array ``P [N, s*s]`` over flat cell indices ``r * s + c``
of the s x s canvas (30 by default).
One iteration: grandparents ``GP = P[P]``; ``M`` = min of ``GP`` over each cell and its connected neighbours;
stochastic hooking ``P[P[i]] = min(P[P[i]], M[i])`` (``scatter_reduce`` amin); aggressive hooking and shortcutting
``P = min(P, M, GP)``; pointer jump ``P = P[P]``. Parents only decrease and never leave their component, so the
labels converge to the smallest flat index of each component (its first cell in reading order).

Budget: plain neighbour-min needs as many steps as the longest path in a component (~450 in a 30x30 spiral);
with hooking and pointer jumping the worst cases we found converge in 6 iterations in every mode: 30x30 spirals,
row/column snakes, random spanning-tree mazes, a Hilbert curve, combs (all rotations/flips), plus an evolutionary
search for grids that need more iterations (tests/dsl/test_components.py checks spirals, snakes, mazes and the
Hilbert curve against a BFS at ``ITERS - 1``). Random ARC-like grids need 3-5. ``ITERS = 7`` keeps one iteration
of margin.
Cost per 10k grids: labelling 1.3 s (4-connected) / 1.6 s (8-connected) on 2 CPU cores, 6 / 9 ms on an H100;
the statistics (with the size rank) add 0.6 s on CPU, 3 ms on the H100.

Background (colour 0) and PAD cells get the sentinel label s*s (900 on the 30 x 30 canvas). Per-object
statistics are tables ``[N, s*s]`` indexed by label (entries are objects where ``is_obj``, junk elsewhere).
``components(g, diag, multi)`` computes them once per GridBatch and caches them in the memo (``components8s``,
``components4m``, ...), so the primitives of one expansion step share them. Labels and tables are int32.
"""
from __future__ import annotations

from functools import cached_property

import torch
import torch.nn.functional as F
from torch import Tensor

from topas_lit.modules.dsl.grid import BG, N_COLOURS, S, inside, side

NCELL = S * S       # cells of the largest canvas: per-object tables are [N, s*s] (entries indexed by label)
NONE = NCELL        # the background label on the 30 x 30 canvas (s*s on an s x s canvas)
ITERS = 7           # fixed FastSV budget (worst case found: 6)
_CUT = 2048         # added to a neighbour's label when the edge is absent (> any sentinel s*s)


def offsets(s: int, diag: bool) -> tuple[int, ...]:
    """Flat offsets of the undirected edges on an s x s canvas: right, down (+ down-right, down-left with diag)."""
    return (1, s, s + 1, s - 1) if diag else (1, s)


def _edge_penalties(cells: Tensor, fg: Tensor, diag: bool, multi: bool) -> list[tuple[int, Tensor]]:
    """Per flat offset o: ``[N, s*s - o]`` int32, 0 where cells i and i + o are connected, else ``_CUT``."""
    n, s = cells.shape[0], side(cells)
    c, f = cells.reshape(n, s * s), fg.reshape(n, s * s)
    col = torch.arange(s * s, device=cells.device) % s
    out = []
    for o in offsets(s, diag):
        e = f[:, :-o] & f[:, o:]
        if not multi:
            e = e & (c[:, :-o] == c[:, o:])
        if o in (1, s + 1):          # no wrap from the last column to the next row
            e = e & (col[:-o] != s - 1)
        elif o == s - 1:             # down-left from the first column wraps
            e = e & (col[:-o] != 0)
        out.append((o, torch.where(e, 0, _CUT).to(torch.int32)))
    return out


def _neighbour_min(v: Tensor, edges: list[tuple[int, Tensor]]) -> Tensor:
    """min of ``v [N, s*s + 1]`` over each cell and its connected neighbours (the last, sentinel column kept)."""
    m = v.clone()
    nc = v.shape[1] - 1
    for o, pen in edges:
        t = torch.minimum(v[:, :nc - o], v[:, o:nc]).add_(pen)  # the edge (i, i + o) carries min of both ends
        torch.minimum(m[:, :nc - o], t, out=m[:, :nc - o])
        torch.minimum(m[:, o:nc], t, out=m[:, o:nc])
    return m


def label_components(cells: Tensor, fg: Tensor, diag: bool, multi: bool, iters: int = ITERS) -> Tensor:
    """Labels [N, s, s] int32: smallest flat index of each cell's component, the sentinel s*s off ``fg [N, s, s]``.

    Neighbours (4-, or 8-connected with ``diag``) join when both are in ``fg`` and, unless ``multi``, share a colour.
    The parent array carries a sentinel slot s*s (pointing to itself) so that gathers need no padding.
    """
    n, s = cells.shape[0], side(cells)
    nc = s * s
    edges = _edge_penalties(cells, fg, diag, multi)
    idx = torch.arange(nc + 1, dtype=torch.int32, device=cells.device).expand(n, nc + 1)
    p = torch.where(F.pad(fg.reshape(n, nc), (0, 1)), idx, nc).to(torch.int32)  # [N, s*s + 1]
    for _ in range(iters):
        gp = p.gather(1, p)
        m = _neighbour_min(gp, edges)
        p = p.scatter_reduce(1, p, m, "amin")                  # hook each parent onto m
        p = torch.minimum(torch.minimum(p, m), gp)
        p = p.gather(1, p)
    return p[:, :nc].reshape(n, s, s)


class Components:
    """Labels and per-object tables of N grids on an s x s canvas. Tables are [N, s*s] int32 indexed by label
    (junk if not is_obj); ``ncell`` = s*s is also the label of background cells."""

    def __init__(self, cells: Tensor, size: Tensor, label: Tensor, fg: Tensor, multi: bool):
        n, dev, s = cells.shape[0], cells.device, side(cells)
        self.side, self.ncell = s, s * s
        nc = self.ncell
        self.cells, self.label, self.fg, self.multi = cells, label, fg, multi
        self._lab = label.reshape(n, nc)
        idx = torch.arange(nc, dtype=torch.int32, device=dev)
        rows, cols = (idx // s).expand(n, nc), (idx % s).expand(n, nc)
        one = fg.reshape(n, nc).to(torch.int32)
        self.count = self.scatter(one, "sum", 0)                    # cells per object
        self.top, self.bottom = self.scatter(rows, "amin", s), self.scatter(rows, "amax", -1)
        self.left, self.right = self.scatter(cols, "amin", s), self.scatter(cols, "amax", -1)
        self.is_obj = self.count > 0
        h, w = size[:, 0, None], size[:, 1, None]
        edge = (self.top == 0) | (self.left == 0) | (self.bottom == h - 1) | (self.right == w - 1)
        self.border = self.is_obj & edge                            # touches the grid border
        self.n_obj = self.is_obj.sum(1)                             # [N]

    def scatter(self, val: Tensor, reduce: str, init: int) -> Tensor:
        """Reduce per-cell values ``val [N, s*s]`` (int32) into a per-object table (background dropped)."""
        out = torch.full((val.shape[0], self.ncell + 1), init, dtype=torch.int32, device=val.device)
        return out.scatter_reduce(1, self._lab, val, reduce)[:, :self.ncell]

    def cell(self, table: Tensor, fill=0) -> Tensor:
        """Broadcast a per-object table [N, s*s] to cells [N, s, s] (``fill`` on background)."""
        n = table.shape[0]
        ext = torch.cat([table, table[:, :1]], 1)  # any dtype; the sentinel slot is masked below
        return torch.where(self.fg, ext.gather(1, self._lab).view(n, self.side, self.side), fill)

    @property
    def height(self) -> Tensor:
        return self.bottom - self.top + 1

    @property
    def width(self) -> Tensor:
        return self.right - self.left + 1

    @cached_property
    def colour(self) -> Tensor:
        """[N, s*s] the object's colour (multicolour: the majority colour, ties -> the smaller colour)."""
        if self.multi:
            return self.colcount.argmax(1).to(torch.int32)
        return self.cells.reshape(self.cells.shape[0], self.ncell).to(torch.int32)  # the root's colour

    @cached_property
    def ncol(self) -> Tensor:
        """[N, s*s] number of distinct colours in the object."""
        return (self.colcount > 0).sum(1, dtype=torch.int32) if self.multi else self.is_obj.to(torch.int32)

    @cached_property
    def colcount(self) -> Tensor:
        """[N, 10, s*s] cells of each colour per object."""
        n = self.cells.shape[0]
        flat = self.cells.reshape(n, self.ncell)
        if not self.multi:
            return torch.stack([self.count * (self.colour == c) for c in range(N_COLOURS)], 1)
        return torch.stack([self.scatter((flat == c).to(torch.int32), "sum", 0) for c in range(N_COLOURS)], 1)

    @cached_property
    def rank(self) -> Tensor:
        """[N, s*s] size rank among the grid's objects, 0 = largest (ties: reading order); s*s if no object."""
        n, nc = self.count.shape[0], self.ncell
        idx = torch.arange(nc, device=self.count.device)
        key = torch.where(self.is_obj, self.count.long() * (nc + 1) + (nc - idx), -1)
        order = key.argsort(dim=1, descending=True, stable=True)
        rank = torch.empty_like(order).scatter_(1, order, idx.expand(n, nc))
        return torch.where(self.is_obj, rank.to(torch.int32), nc)

    @cached_property
    def shape_fp(self) -> Tensor:
        """[N, s*s] long per object: a fingerprint of its shape (mask up to translation); distinct sentinels for
        non-objects. A sum of fixed pseudo-random 40-bit weights of the cells' offsets (row, column) from the
        object's top-left corner (exact up to astronomically unlikely collisions; the same weights on every
        canvas)."""
        n, dev, s, nc = self.count.shape[0], self.count.device, self.side, self.ncell
        pos = torch.arange(NCELL, device=dev, dtype=torch.long)
        weight = (_mix(pos, 2654435761) << 9) ^ _mix(pos, 1103515245)  # < 2**40: sums of 900 fit in int64
        idx = torch.arange(nc, dtype=torch.int32, device=dev)
        top, left = self.cell(self.top).reshape(n, nc), self.cell(self.left).reshape(n, nc)
        off = (idx // s - top) * S + (idx % s - left)          # offset on the 30 x 30 layout: canvas-independent
        val = torch.where(self.fg.reshape(n, nc), weight[off.clamp(0, NCELL - 1).long()], 0)
        pos = pos[:nc]
        fp = torch.zeros(n, nc + 1, dtype=torch.long, device=dev).scatter_add_(1, self._lab.long(), val)[:, :nc]
        return torch.where(self.is_obj, fp, (1 << 62) + pos)  # non-objects: distinct sentinels

    @cached_property
    def shape_mult(self) -> Tensor:
        """[N, s*s] per object: how many objects of the grid have its shape (``shape_fp``), 0 if none; equal runs
        counted after a sort."""
        srt, order = self.shape_fp.sort(dim=1, stable=True)
        new_run = torch.cat([torch.ones_like(srt[:, :1]), (srt[:, 1:] != srt[:, :-1]).long()], 1)
        run = new_run.cumsum(1) - 1
        run_len = torch.zeros_like(run).scatter_add_(1, run, torch.ones_like(run))
        mult = torch.empty_like(run).scatter_(1, order, run_len.gather(1, run))
        return torch.where(self.is_obj, mult, 0).to(torch.int32)


def _mix(x: Tensor, a: int) -> Tensor:
    """A fixed pseudo-random 31-bit value per integer of ``x`` (modular multiply-xorshift, no overflow)."""
    p = (1 << 31) - 1
    x = (x + 1) * a % p
    x = (x ^ (x >> 13)) * 48271 % p
    return (x ^ (x >> 11)) * 69621 % p


def components(g, diag: bool = True, multi: bool = False) -> Components:
    """Components of a GridBatch's non-background cells, cached in its memo (key e.g. ``components8s``)."""

    def compute():
        fg = g.inside & (g.cells != BG)
        return Components(g.cells, g.size, label_components(g.cells, fg, diag, multi), fg, multi)

    return g.cached(f"components{8 if diag else 4}{'m' if multi else 's'}", compute)


def bg_regions(g) -> Components:
    """The 4-connected regions of background cells as components (their ``fg`` is the background), cached."""

    def compute():
        bg = g.inside & (g.cells == BG)
        return Components(g.cells, g.size, label_components(g.cells, bg, False, True), bg, True)

    return g.cached("bg_regions", compute)


def enclosed_bg(g) -> Tensor:
    """[N, s, s] bool: background cells whose 4-connected background region does not touch the grid border
    (holes). Cached in the memo as ``enclosed``."""

    def compute():
        c = bg_regions(g)
        return c.fg & ~c.cell(c.border, False)

    return g.cached("enclosed", compute)


# ------------------------------------------------------------------------- selection and fitting helpers
def pick(c: Components, key: Tensor, largest: bool = True) -> tuple[Tensor, Tensor]:
    """The unique object maximising (``largest``) or minimising ``key [N, s*s]``: (label [N] long, ok [N]);
    ok False on ties or when the grid has no object."""
    k = key.long() if largest else -key.long()
    k = torch.where(c.is_obj, k, torch.iinfo(torch.long).min)
    hit = c.is_obj & (k == k.amax(1, keepdim=True))
    return hit.long().argmax(1), hit.sum(1) == 1


def obj_mask(c: Components, lab: Tensor) -> Tensor:
    """[N, s, s] bool: the cells of object ``lab [N]``."""
    return c.label == lab[:, None, None]


def obj_box(c: Components, lab: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Bounding box (top, left, h, w) of object ``lab [N]``, each [N] long; of K objects per grid with ``lab [N, K]``,
    each [N, K]."""
    idx = (lab if lab.dim() == 2 else lab[:, None]).clamp(max=c.ncell - 1)
    at = lambda t: t.gather(1, idx).view(lab.shape).long()  # noqa: E731
    top, left = at(c.top), at(c.left)
    return top, left, at(c.bottom) - top + 1, at(c.right) - left + 1


def unique_colour_objs(c: Components) -> Tensor:
    """[N, s*s] bool: objects whose colour no other object of the grid has."""
    n = c.count.shape[0]
    col = torch.where(c.is_obj, c.colour, N_COLOURS).long()
    per_col = torch.zeros(n, N_COLOURS + 1, dtype=torch.long, device=col.device).scatter_add_(1, col, c.is_obj.long())
    return (per_col.gather(1, col) == 1) & c.is_obj


def fit_stacked(demos, cells: Tensor, size: Tensor, ok: Tensor) -> tuple[Tensor, Tensor]:
    """``fit_choice`` over K options built side by side in one pass: ``cells [N, K, s, s]``, ``size [N, K, 2]``, ``ok
    [N, K]`` (option k's output as ``make(k)`` would give it). The same choice as ``fit_choice`` (the first option
    reproducing every demo output, else the first getting every output size right) with a few large ops instead of
    K rounds of small ones. -> (choice [N] long, ok [N])."""
    gs, k = demos.has_target.shape[1], cells.shape[1]
    idx = torch.arange(k, device=cells.device)
    exact, sized = (torch.where(hit, idx, k).amin(1) for hit in match_targets(cells, size, ok, demos))   # [M]
    choice = torch.where(exact < k, exact, sized)
    return per_slot(choice.clamp(max=k - 1), gs), per_slot(choice < k, gs)


def take_option(cells: Tensor, size: Tensor, ok: Tensor, k: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Option ``k [N]`` of K options side by side (cells [N, K, s, s], size [N, K, 2], ok [N, K])."""
    n, s = cells.shape[0], side(cells)
    at = k.view(n, 1)
    return (cells.gather(1, at.view(n, 1, 1, 1).expand(n, 1, s, s))[:, 0],
            size.gather(1, at[..., None].expand(n, 1, 2))[:, 0], ok.gather(1, at)[:, 0])


def per_slot(x: Tensor, slots: int) -> Tensor:
    """Broadcast a per-candidate tensor [M, ...] to its slots [M * G, ...]."""
    return x.unsqueeze(1).expand(x.shape[0], slots, *x.shape[1:]).reshape(-1, *x.shape[1:])


def fit_table(key: Tensor, val: Tensor, use: Tensor, demos, n_keys: int) -> tuple[Tensor, Tensor, Tensor]:
    """Fit a function key -> value per candidate from entries ``use`` of ``has_target`` slots.

    ``key``, ``val``, ``use``: [N, K] (any K; key in 0..n_keys-1, val in 0..9). Returns (table [M, n_keys] long,
    seen [M, n_keys] bool, ok [M]): ok False where some key meets two values.
    """
    m, g = demos.has_target.shape
    use = (use.view(m, g, -1) & demos.has_target[:, :, None]).reshape(m, -1)
    k = torch.where(use, key.reshape(m, -1).long(), n_keys)  # unused -> dump slot
    v = val.reshape(m, -1).long()
    lo = torch.full((m, n_keys + 1), N_COLOURS, dtype=torch.long, device=key.device)
    hi = torch.full((m, n_keys + 1), -1, dtype=torch.long, device=key.device)
    lo = lo.scatter_reduce(1, k, v, "amin")[:, :n_keys]
    hi = hi.scatter_reduce(1, k, v, "amax")[:, :n_keys]
    seen = hi >= 0
    return hi.clamp(min=0), seen, ((lo == hi) | ~seen).all(1)


def target_cells(g, demos) -> tuple[Tensor, Tensor]:
    """Demo targets as [N, s, s] and [N] bool: the slot has a target of the input's size."""
    tgt = demos.target.reshape(-1, g.side, g.side)
    same = demos.has_target.reshape(-1) & (demos.target_size.reshape(-1, 2) == g.size).all(1)
    return tgt, same


def same_size_all(g, demos) -> Tensor:
    """[N] bool: every demo of the grid's candidate has an output of its input's size."""
    _, same = target_cells(g, demos)
    m, gs = demos.has_target.shape
    return per_slot((same.view(m, gs) | ~demos.has_target).all(1), gs)


def fit_colour(g, demos, region: Tensor) -> tuple[Tensor, Tensor]:
    """The single demo-target colour over ``region [N, s, s]`` (same-size demos): (colour [N], ok [N]).
    ok False where the region's target cells disagree, or the region is empty in every demo."""
    tgt, same = target_cells(g, demos)
    n = tgt.shape[0]
    use = region.reshape(n, -1) & same[:, None]
    table, seen, ok = fit_table(torch.zeros_like(tgt).reshape(n, -1), tgt.reshape(n, -1), use, demos, 1)
    gs = demos.slots
    return per_slot(table[:, 0], gs), per_slot(ok & seen[:, 0], gs) & same_size_all(g, demos)


def match_targets(cells: Tensor, size: Tensor, ok: Tensor, demos) -> tuple[Tensor, Tensor]:
    """Per candidate [M]: every demo output reproduced exactly / with the right size (given ``ok``). With K options
    side by side (cells [N, K, s, s], size [N, K, 2], ok [N, K]): per candidate and option, [M, K]."""
    if cells.dim() == 3:
        exact, sized = match_targets(cells[:, None], size[:, None], ok[:, None], demos)
        return exact[:, 0], sized[:, 0]
    m, gs = demos.has_target.shape
    k, s = cells.shape[1], side(cells)
    tsize = demos.target_size.reshape(-1, 2)
    sz = ok & (size == tsize[:, None]).all(-1)                                                  # [N, K]
    eq = ((cells == demos.target.reshape(-1, 1, s, s)) | ~inside(tsize, s)[:, None]).flatten(2).all(2) & sz
    need = ~demos.has_target[:, :, None]
    return (eq.view(m, gs, k) | need).all(1), (sz.view(m, gs, k) | need).all(1)


def fit_choice(demos, n_opts: int, make) -> tuple[Tensor, Tensor]:
    """Choose an option 0..n_opts-1 per candidate: the first whose outputs ``make(k [N]) -> (cells, size, ok)``
    reproduce every demo output, else the first that gets every output size right. (choice [N] long, ok [N])."""
    m, gs = demos.has_target.shape
    exact = torch.full((m,), n_opts, dtype=torch.long, device=demos.target.device)
    sized = exact.clone()
    for k in reversed(range(n_opts)):  # reversed: the first matching option wins
        e, s = match_targets(*make(torch.full((m * gs,), k, dtype=torch.long, device=exact.device)), demos)
        exact, sized = torch.where(e, k, exact), torch.where(s, k, sized)
    choice = torch.where(exact < n_opts, exact, sized)
    return per_slot(choice.clamp(max=n_opts - 1), gs), per_slot(choice < n_opts, gs)
