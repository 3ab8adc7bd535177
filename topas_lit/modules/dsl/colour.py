"""Colour primitives: colour maps fitted from the demos, keeping/removing colours, fills, swaps, 1x1 summaries.

Also the fitting helpers shared by the painting and split families (``fit_colour``, ``per_slot``, ``same_size``):
a fitted parameter is estimated per candidate from its demo slots (``has_target``) and broadcast to all its slots.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor

from topas_lit.modules.dsl.grid import BG, N_COLOURS, PAD, colour_counts, coords, side
from topas_lit.modules.dsl.registry import DemoTargets, GridBatch, primitive

NC = N_COLOURS


def clean(g: GridBatch) -> GridBatch:
    """The batch with cell values clamped into 0..PAD (cached): states that another primitive marked not ok may hold
    junk such as -1, which must not reach a gather/scatter index. Its memo is shared by these families."""
    return g.cached("colour.clean", lambda: GridBatch(g.cells.clamp(0, PAD), g.size))


def register(name: str, family: str, fitted: bool = False):
    """``@primitive`` run on ``clean(g)`` whose not-ok outputs are replaced by the input grid, so that no junk
    (PAD inside a grid, a stale size) ever leaves a primitive of these families."""

    def deco(fn):
        @functools.wraps(fn)
        def safe(g: GridBatch, *demos):
            g = clean(g)
            cells, size, ok = fn(g, *demos)
            return (torch.where(ok[:, None, None], cells, g.cells), torch.where(ok[:, None], size, g.size), ok)

        primitive(name, family, fitted)(safe)
        return fn

    return deco


# ----------------------------------------------------------------------------------------------- fitting helpers
def per_slot(x: Tensor, slots: int) -> Tensor:
    """Broadcast a per-candidate tensor [M, ...] to its slots [M * G, ...]."""
    return x.unsqueeze(1).expand(x.shape[0], slots, *x.shape[1:]).reshape(-1, *x.shape[1:])


def same_size(size: Tensor, demos: DemoTargets) -> Tensor:
    """[M] bool: every demo slot's grid size (``size [M*G, 2]``) equals its target size."""
    eq = (size.view(demos.target_size.shape) == demos.target_size).all(-1)
    return (eq | ~demos.has_target).all(1)


def key_colours(key: Tensor, mask: Tensor, demos: DemoTargets, n_keys: int) -> Tensor:
    """[M, n_keys, 11] bool: which demo target colours (10 = PAD, a cell outside the demo output) each key meets over
    the cells in ``mask``, per candidate; only ``has_target`` slots count. ``key [N, s, s]`` long in 0..n_keys-1
    (clamped). Counts (key, colour) pairs in an int32 table by scatter_add (faster on the GPU than min/max scatters,
    which contend on few keys)."""
    m, g = demos.has_target.shape
    tgt = demos.target.reshape(m, -1).long().clamp(0, PAD)
    use = (mask.reshape(m, g, -1) & demos.has_target[:, :, None]).reshape(m, -1)
    idx = key.reshape(m, -1).clamp(0, n_keys - 1) * (PAD + 1) + tgt
    table = torch.zeros(m, n_keys * (PAD + 1), dtype=torch.int32, device=key.device)
    return table.scatter_add_(1, idx, use.int()).view(m, n_keys, PAD + 1) > 0


def fit_keys(key: Tensor, mask: Tensor, demos: DemoTargets, n_keys: int) -> tuple[Tensor, Tensor, Tensor]:
    """Fit a function key -> demo target colour over the cells in ``mask``, per candidate (``key_colours``).

    Returns (value [M, n_keys], seen [M, n_keys], ok [M]); ok requires every seen key to meet one colour 0..9
    (a PAD target, i.e. a cell outside the demo output, is never ok).
    """
    nz = key_colours(key, mask, demos, n_keys)
    seen = nz.any(-1)
    ok = ((nz[..., :NC].sum(-1) <= 1) & ~nz[..., PAD]).all(-1)
    return nz[..., :NC].int().argmax(-1), seen, ok


def fit_colour(mask: Tensor, demos: DemoTargets, with_seen: bool = False):
    """The single demo-target colour under ``mask [N, s, s]`` per candidate: (colour [N], ok [N]).

    ok False where the masked target cells hold several colours or PAD, or no masked cell exists in any demo.
    With ``with_seen``: (colour, consistent, seen) to tell an inconsistent fit from a colour never seen.
    """
    value, seen, ok = fit_keys(torch.zeros_like(mask, dtype=torch.long), mask, demos, 1)
    g = demos.slots
    colour, ok, seen = per_slot(value[:, 0], g), per_slot(ok, g), per_slot(seen[:, 0], g)
    return (colour, ok, seen) if with_seen else (colour, ok & seen)


def apply_map(cells: Tensor, cmap: Tensor) -> Tensor:
    """``out = cmap[n, cells]`` with PAD kept; cmap [N, 10]."""
    n = cells.shape[0]
    ext = F.pad(cmap, (0, 1), value=PAD)
    return ext.gather(1, cells.reshape(n, -1)).view_as(cells)


def changed(cells: Tensor, out: Tensor, slots: int = 1) -> Tensor:
    """[N] bool: the output differs from the input somewhere in the grid (``slots`` 1) or, with the candidates'
    slot count, somewhere in any slot of the grid's candidate (a fitted primitive that changes nothing is a no-op)."""
    if out.dim() == 4:        # K outputs side by side, out [N, K, s, s]: [N, K]
        diff = (cells[:, None] != out).flatten(2).any(2)
    else:
        diff = (cells != out).flatten(1).any(1)
    return diff if slots == 1 else per_slot(diff.view(-1, slots, *diff.shape[1:]).any(1), slots)


def top_colour(counts: Tensor, largest: bool = True) -> tuple[Tensor, Tensor]:
    """Most (or least) common present colour of ``counts [N, K]``: (index [N], unique [N]); unique False on ties
    or when no colour is present."""
    present = counts > 0
    big = counts.amax(1, keepdim=True) + 1
    key = counts if largest else torch.where(present, big - counts, 0)
    best = key.amax(1, keepdim=True)
    unique = ((key == best) & present).sum(1) == 1
    return key.argmax(1), unique


def nonbg_counts(g: GridBatch) -> Tensor:
    """[N, 10] colour counts with the background column zeroed."""
    return g.counts.masked_fill(torch.arange(NC, device=g.cells.device) == BG, 0)


def const_grid(colour: Tensor, h: int, w: int, s: int) -> tuple[Tensor, Tensor]:
    """An h x w grid of ``colour [N]`` per row on an s x s canvas: (cells, size)."""
    n, dev = colour.shape[0], colour.device
    rows, cols = coords(s, dev)
    cells = torch.where((rows < h) & (cols < w), colour[:, None, None], PAD)
    return cells, torch.stack([torch.full((n,), h, device=dev), torch.full((n,), w, device=dev)], 1)


def shift(x: Tensor, dr: int, dc: int, fill) -> Tensor:
    """``out[..., i, j] = x[..., i + dr, j + dc]``, ``fill`` off the s x s board; x [..., s, s]."""
    a, b, s = abs(dr), abs(dc), side(x)
    xp = F.pad(x, (b, b, a, a), value=fill)
    return xp[..., a + dr: a + dr + s, b + dc: b + dc + s]


ORTHO = ((1, 0), (-1, 0), (0, 1), (0, -1))
DIAG = ((1, 1), (1, -1), (-1, 1), (-1, -1))


# ----------------------------------------------------------------------------------------------- primitives
@register("colour_map_fit", "colour", fitted=True)
def colour_map_fit(g: GridBatch, demos: DemoTargets):
    """Per-candidate colour map c_in -> c_out fitted on all demo cells (same sizes required); unseen colours
    map to themselves. ok False if not a function, sizes differ, or the map is the identity."""
    value, seen, ok = fit_keys(g.cells, g.inside, demos, NC)
    ident = torch.arange(NC, device=g.cells.device)
    cmap = torch.where(seen, value, ident)
    ok = ok & same_size(g.size, demos) & (cmap != ident).any(1)
    cmap, ok = per_slot(cmap, demos.slots), per_slot(ok, demos.slots)
    return apply_map(g.cells, cmap), g.size, ok


def _keep(g: GridBatch, keep: Tensor) -> Tensor:
    """Keep the colours flagged in ``keep [N, 10]``, others -> background."""
    kept = keep.gather(1, g.cells.reshape(len(g), -1).clamp(max=NC - 1)).view_as(g.cells)
    return torch.where(kept | ~g.inside, g.cells, BG)


def _only(c: Tensor) -> Tensor:
    """[N, 10] bool: colour ``c [N]`` and the background."""
    ar = torch.arange(NC, device=c.device)
    return (ar == c[:, None]) | (ar == BG)


@register("keep_colour_most_common", "colour")
def keep_colour_most_common(g: GridBatch):
    """Keep only the most common non-background colour (unique maximum), the rest -> background."""
    c, unique = top_colour(nonbg_counts(g))
    return _keep(g, _only(c)), g.size, unique


@register("keep_colour_least_common", "colour")
def keep_colour_least_common(g: GridBatch):
    """Keep only the least common present non-background colour (unique minimum), the rest -> background."""
    c, unique = top_colour(nonbg_counts(g), largest=False)
    return _keep(g, _only(c)), g.size, unique


def _demo_palettes(g: GridBatch, demos: DemoTargets) -> tuple[Tensor, Tensor]:
    """Colours present in any demo input / any demo target of each candidate: ([M, 10], [M, 10]) bool."""
    m, gs = demos.has_target.shape
    has = demos.has_target[:, :, None]
    pin = (g.counts.view(m, gs, NC) > 0) & has
    pout = (colour_counts(demos.target.flatten(0, 1).clamp(0, PAD)).view(m, gs, NC) > 0) & has
    return pin.any(1), pout.any(1)


@register("remove_colour_fit", "colour", fitted=True)
def remove_colour_fit(g: GridBatch, demos: DemoTargets):
    """Colours of the demo inputs that never appear in the demo outputs -> background, in every slot."""
    pin, pout = _demo_palettes(g, demos)
    notbg = torch.arange(NC, device=g.cells.device) != BG
    gone = per_slot(pin & ~pout & notbg, demos.slots)
    out = _keep(g, ~gone)
    return out, g.size, changed(g.cells, out, demos.slots)


@register("keep_colour_fit", "colour", fitted=True)
def keep_colour_fit(g: GridBatch, demos: DemoTargets):
    """Keep only the non-background colours that appear in the demo outputs; all others -> background."""
    _, pout = _demo_palettes(g, demos)
    keep = per_slot(pout | (torch.arange(NC, device=g.cells.device) == BG), demos.slots)
    out = _keep(g, keep)
    return out, g.size, changed(g.cells, out, demos.slots)


def paint_fit(g: GridBatch, demos: DemoTargets, mask: Tensor):
    """Paint the cells of ``mask`` with the colour the demo targets hold there; ok where fitted and not a no-op."""
    c, ok = fit_colour(mask, demos)
    out = torch.where(mask, c[:, None, None], g.cells)
    return out, g.size, ok & changed(g.cells, out, demos.slots)


@register("fill_bg_fit", "colour", fitted=True)
def fill_bg_fit(g: GridBatch, demos: DemoTargets):
    """All background cells -> one fitted colour."""
    return paint_fit(g, demos, g.inside & (g.cells == BG))


@register("recolour_nonbg_fit", "colour", fitted=True)
def recolour_nonbg_fit(g: GridBatch, demos: DemoTargets):
    """All non-background cells -> one fitted colour."""
    return paint_fit(g, demos, g.inside & (g.cells != BG))


@register("recolour_minority_fit", "colour", fitted=True)
def recolour_minority_fit(g: GridBatch, demos: DemoTargets):
    """All cells not of the grid's most common colour (background included) -> one fitted colour."""
    c, unique = top_colour(g.counts)
    cells, size, ok = paint_fit(g, demos, g.inside & (g.cells != c[:, None, None]))
    return cells, size, ok & unique


@register("swap_top2_colours", "colour")
def swap_top2_colours(g: GridBatch):
    """Swap the two most common non-background colours (ok False when a third colour ties the second)."""
    cnt = nonbg_counts(g)
    c1, _ = top_colour(cnt)
    rest = cnt.scatter(1, c1[:, None], 0)
    c2, unique2 = top_colour(rest)
    ident = torch.arange(NC, device=g.cells.device).expand(len(g), NC)
    cmap = ident.scatter(1, c1[:, None], c2[:, None]).scatter(1, c2[:, None], c1[:, None])
    return apply_map(g.cells, cmap), g.size, unique2


@register("invert_binary", "colour")
def invert_binary(g: GridBatch):
    """Background <-> the single non-background colour (ok only with exactly one such colour)."""
    cnt = nonbg_counts(g)
    c = cnt.argmax(1)
    ident = torch.arange(NC, device=g.cells.device).expand(len(g), NC)
    cmap = ident.scatter(1, c[:, None], BG).scatter(1, torch.full_like(c[:, None], BG), c[:, None])
    return apply_map(g.cells, cmap), g.size, (cnt > 0).sum(1) == 1


@register("majority_colour_1x1", "colour")
def majority_colour_1x1(g: GridBatch):
    """A 1x1 grid of the most common non-background colour."""
    c, unique = top_colour(nonbg_counts(g))
    return *const_grid(c, 1, 1, g.side), unique


@register("minority_colour_1x1", "colour")
def minority_colour_1x1(g: GridBatch):
    """A 1x1 grid of the least common present non-background colour."""
    c, unique = top_colour(nonbg_counts(g), largest=False)
    return *const_grid(c, 1, 1, g.side), unique


@register("fill_majority", "colour")
def fill_majority(g: GridBatch):
    """The whole grid painted with its most common colour (background included)."""
    c, unique = top_colour(g.counts)
    out = torch.where(g.inside, c[:, None, None], PAD)
    return out, g.size, unique


@register("count_to_row", "colour")
def count_to_row(g: GridBatch):
    """A 1 x k row of the single non-background colour, k = its number of cells."""
    cnt = nonbg_counts(g)
    c = cnt.argmax(1)
    k = cnt.sum(1)
    rows, cols = coords(g.side, g.cells.device)
    out = torch.where((rows == 0) & (cols < k[:, None, None]), c[:, None, None], PAD)
    size = torch.stack([torch.ones_like(k), k], 1)
    return out, size, (cnt > 0).sum(1) == 1


@register("colours_by_count", "colour")
def colours_by_count(g: GridBatch):
    """A k x 1 column of the k non-background colours, most common first (ok False on tied counts)."""
    cnt = nonbg_counts(g)
    k = (cnt > 0).sum(1)
    order = cnt.argsort(dim=1, descending=True, stable=True)                    # [N, 10]
    srt = cnt.gather(1, order)
    live = torch.arange(NC, device=cnt.device) < k[:, None]
    ties = ((srt[:, 1:] == srt[:, :-1]) & live[:, 1:]).any(1)
    rows, cols = coords(g.side, g.cells.device)
    out = torch.where((cols == 0) & (rows < k[:, None, None]),
                      order.gather(1, rows[:, 0].clamp(max=NC - 1).expand(len(g), g.side))[:, :, None], PAD)
    return out, torch.stack([k, torch.ones_like(k)], 1), (k > 0) & ~ties


# ----------------------------------------------------------------------------------------------- local rules
def neighbour_feature(g: GridBatch, name: str) -> tuple[Tensor, int]:
    """A per-cell neighbourhood feature (value [N, s, s], number of values), cached per GridBatch:
    count4 the number of non-background 4-neighbours, mask4 / mask8 which 4- / 8-neighbours are non-background,
    colour8 / colour4 / colourx the single non-background colour among the 8 / the 4 orthogonal / the 4 diagonal
    neighbours (0 none, 10 several), colour44 the pair (colour4, colourx)."""
    fg = g.inside & (g.cells != BG)

    def single_colour(dirs):
        hi_src, lo_src = torch.where(fg, g.cells, -1), torch.where(fg, g.cells, PAD)
        hi, lo = hi_src.new_full(hi_src.shape, -1), lo_src.new_full(lo_src.shape, PAD)
        for dr, dc in dirs:
            hi, lo = torch.maximum(hi, shift(hi_src, dr, dc, -1)), torch.minimum(lo, shift(lo_src, dr, dc, PAD))
        return torch.where(hi < 0, 0, torch.where(hi == lo, hi, NC))

    def compute():
        if name == "count4":
            return sum(shift(fg, dr, dc, False).long() for dr, dc in ORTHO), 5
        if name in ("mask4", "mask8"):
            dirs = ORTHO if name == "mask4" else ORTHO + DIAG
            return sum(shift(fg, dr, dc, False).long() << i for i, (dr, dc) in enumerate(dirs)), 1 << len(dirs)
        if name == "colour44":
            return single_colour(ORTHO) * (NC + 1) + single_colour(DIAG), (NC + 1) ** 2
        return single_colour({"colour8": ORTHO + DIAG, "colour4": ORTHO, "colourx": DIAG}[name]), NC + 1

    return g.cached(f"colour.neighbour.{name}", compute)


def _local_map(g: GridBatch, demos: DemoTargets, feature: str):
    """Colour map keyed by (cell colour, neighbourhood feature), fitted on the demos (same sizes). Strict: a slot
    holding a key never seen in the demos is not ok (no guessing on unseen neighbourhoods)."""
    feat, k = neighbour_feature(g, feature)
    key = g.cells.clamp(max=NC - 1) * k + feat
    value, seen, ok = fit_keys(key, g.inside, demos, NC * k)
    ok = per_slot(ok & same_size(g.size, demos), demos.slots)
    flat = key.view(len(g), -1)
    out = per_slot(value, demos.slots).gather(1, flat).view_as(g.cells)
    known = per_slot(seen, demos.slots).gather(1, flat).view_as(g.inside) | ~g.inside
    out = torch.where(g.inside, out, PAD)
    return out, g.size, ok & known.flatten(1).all(1) & changed(g.cells, out, demos.slots)


@register("local_map_count4_fit", "colour", fitted=True)
def local_map_count4_fit(g: GridBatch, demos: DemoTargets):
    """Fitted map (colour, number of non-background 4-neighbours) -> colour."""
    return _local_map(g, demos, "count4")


@register("local_map_mask8_fit", "colour", fitted=True)
def local_map_mask8_fit(g: GridBatch, demos: DemoTargets):
    """Fitted map (colour, which 8-neighbours are non-background) -> colour: stamps around pixels or shapes."""
    return _local_map(g, demos, "mask8")


@register("local_map_mask4_fit", "colour", fitted=True)
def local_map_mask4_fit(g: GridBatch, demos: DemoTargets):
    """Fitted map (colour, which 4-neighbours are non-background) -> colour."""
    return _local_map(g, demos, "mask4")


@register("local_map_colour8_fit", "colour", fitted=True)
def local_map_colour8_fit(g: GridBatch, demos: DemoTargets):
    """Fitted map (colour, the single non-background colour among the 8 neighbours / none / several) -> colour."""
    return _local_map(g, demos, "colour8")
