"""Symmetry primitives: mirror overlays, completion of symmetric / periodic patterns hidden under a mask colour,
crops of the hidden region, and continuation of a periodic pattern onto a larger canvas.

Symmetry search: for each kind (left-right, up-down, 180-degree rotation, transpose, anti-transpose) the mirror
axis may sit a few cells off the grid centre (``OFFS``); per grid and kind the offset with the most agreeing known
cell pairs and no disagreeing pair is kept, and the kind is used when that agreement covers at least half of the
known cells. Masked cells then take the colour of a known partner, for ``ROUNDS`` rounds over the kinds (so
compositions such as 90-degree rotations get used too).

Periods: a table of which shifts t make two known cells of a row (column) disagree gives the exact smallest
period (no clash at any multiple); diagonal (sheared) lattices are checked with per-class min/max scatters.
All searches score every candidate at once where memory allows ([N, K, s, s] int8 stacks), so the cost is a
few dozen kernels per call whatever the batch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from topas_lit.modules.dsl.geometry import dihedral, first_demo, fit_ratio, per_grid
from topas_lit.modules.dsl.grid import BG, N_COLOURS, PAD, bbox, colour_counts, coords, crop, inside, remap, side
from topas_lit.modules.dsl.registry import DemoTargets, GridBatch, primitive, view_slots

FAM = "symmetry"


# ----------------------------------------------------------------------------------------------- overlays
def _overlay(cells: Tensor, *others: Tensor) -> Tensor:
    """Background cells take the colour of the first of ``others`` that is not background there."""
    out = cells
    for o in others:
        out = torch.where(out == BG, o, out)
    return out


def _sym_prim(name: str, doc: str, kinds: tuple, square: bool):
    def fn(g: GridBatch):
        mirrors = [dihedral(g.cells, g.size, *k)[0] for k in kinds]
        ok = g.size[:, 0] == g.size[:, 1] if square else g.size[:, 0] > 0
        return _overlay(g.cells, *mirrors), g.size, ok

    fn.__doc__ = doc
    fn.__name__ = name
    primitive(name, FAM)(fn)
    return fn


# dihedral codes (swap, flip_r, flip_c)
_LR, _UD, _R180 = (False, False, True), (False, True, False), (False, True, True)
_R90, _R270, _TR, _AT = (True, True, False), (True, False, True), (True, False, False), (True, True, True)
symmetrize_lr = _sym_prim("symmetrize_lr", "Overlay with the left-right mirror (background takes mirrored colour).",
                          (_LR,), False)
symmetrize_ud = _sym_prim("symmetrize_ud", "Overlay with the up-down mirror.", (_UD,), False)
symmetrize_rot = _sym_prim("symmetrize_rot", "Square grids: overlay with the 90/180/270-degree rotations.",
                           (_R90, _R180, _R270), True)
symmetrize_transpose = _sym_prim("symmetrize_transpose", "Square grids: overlay with the transpose.", (_TR,), True)


# ----------------------------------------------------------------------------------------------- mask colour
def fit_mask_colour(g: GridBatch, demos: DemoTargets) -> tuple[Tensor, Tensor]:
    """The colour present in every demo input and absent from its output (smallest if several) -> (c, ok) [N]."""
    G, has = demos.slots, demos.has_target
    cin = view_slots(g.counts > 0, G)
    cout = colour_counts(demos.target.flatten(0, 1)).view(-1, G, N_COLOURS) > 0
    cand = ((cin & ~cout) | ~has[..., None]).all(1) & has.any(1)[:, None]   # [M, 10]
    return per_grid(cand.long().argmax(1), G), per_grid(cand.any(1), G)


# ----------------------------------------------------------------------------------------------- symmetric fill
def _offsets(k: int, device) -> Tensor:
    """The first ``k`` of 0, -1, 1, -2, 2, ... as a tensor (the order of ``OFFS``)."""
    i = torch.arange(k, device=device)
    return (i + 1) // 2 * (1 - 2 * (i % 2))


OFFS = (0, -1, 1, -2, 2, -3, 3)                       # axis offsets searched (cells from the grid's own centre)
OFFS2 = [(a, b) for a in OFFS[:5] for b in OFFS[:5]]  # 180-degree rotation centres (row, column offsets)
ROUNDS = 2
# kind -> (offsets (a, b) searched, the constant shift of the offset-0 partner map that gives offset (a, b))
KINDS = {
    "lr": ([(o, 0) for o in OFFS], lambda a, b: (0, a)),
    "ud": ([(o, 0) for o in OFFS], lambda a, b: (a, 0)),
    "tr": ([(o, 0) for o in OFFS], lambda a, b: (a, -a)),
    "at": ([(o, 0) for o in OFFS], lambda a, b: (a, a)),
    "r180": (OFFS2, lambda a, b: (a, b)),
}


def _partner(kind: str, size: Tensor, s: int, o1, o2=0) -> tuple[Tensor, Tensor]:
    """Partner (row, col) maps (broadcastable to [N, s, s]) under the symmetry ``kind`` with axis offsets."""
    rows, cols = coords(s, size.device)
    h, w = size[:, 0, None, None], size[:, 1, None, None]
    if kind == "lr":
        return rows, w - 1 + o1 - cols
    if kind == "ud":
        return h - 1 + o1 - rows, cols
    if kind == "r180":
        return h - 1 + o1 - rows, w - 1 + o2 - cols
    if kind == "tr":
        return cols + o1, rows - o1
    s = (h + w - 2) // 2 + o1  # "at": reflection on the line i + j = s
    return s - cols, s - rows


def _self(kind: str, size: Tensor, s: int, o1: Tensor, o2: Tensor) -> Tensor:
    """Cells that are their own partner, for offsets ``o1, o2 [K]`` -> bool broadcastable to [N, K, s, s]."""
    r = torch.arange(s, device=size.device).view(s, 1)
    c = r.view(1, s)
    h, w = size[:, 0].view(-1, 1, 1, 1), size[:, 1].view(-1, 1, 1, 1)
    a, b = o1.view(1, -1, 1, 1), o2.view(1, -1, 1, 1)
    if kind == "lr":
        return 2 * c == w - 1 + a
    if kind == "ud":
        return 2 * r == h - 1 + a
    if kind == "r180":
        return (2 * r == h - 1 + a) & (2 * c == w - 1 + b)
    if kind == "tr":
        return r - c == a
    return r + c == (h + w - 2) // 2 + a


def _take(kc: Tensor, size: Tensor, pr: Tensor, pc: Tensor) -> Tensor:
    """``kc`` (colours, -1 = unknown) at the partner cells; -1 where the partner falls outside the grid."""
    n, s = kc.shape[0], side(kc)
    valid = (pr >= 0) & (pr < size[:, 0, None, None]) & (pc >= 0) & (pc < size[:, 1, None, None])
    idx = torch.where(valid, pr * s + pc, s * s).expand(n, s, s).reshape(n, s * s)
    return F.pad(kc.reshape(n, s * s), (0, 1), value=-1).gather(1, idx).view(n, s, s)


def _shifted_stack(x: Tensor, shifts: list[tuple[int, int]]) -> Tensor:
    """[N, s, s] -> [N, K, s, s] with ``out[:, k, i, j] = x[:, i - a, j - b]`` for shifts[k] = (a, b)
    (-1 off the board)."""
    r, s = max(max(abs(a), abs(b)) for a, b in shifts), side(x)
    p = F.pad(x, (r, r, r, r), value=-1)
    return torch.stack([p[:, r - a: r - a + s, r - b: r - b + s] for a, b in shifts], 1)


def _fit_symmetry(kind: str, kc: Tensor, size: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Best axis offsets of ``kind`` per grid: most agreeing known pairs, no disagreeing pair -> (o1, o2, use).

    ``use``: that agreement covers at least half of the known cells. All offsets are scored at once: the offset-0
    partners are gathered once and shifted by constants.
    """
    offs, shift = KINDS[kind]
    dev, k = kc.device, len(offs)
    pv = _shifted_stack(_take(kc, size, *_partner(kind, size, side(kc), 0, 0)), [shift(a, b) for a, b in offs])
    if kind == "r180":  # OFFS2 order: row offset major
        i = torch.arange(k, device=dev)
        o1, o2 = _offsets(5, dev)[i // 5], _offsets(5, dev)[i % 5]
    else:
        o1 = _offsets(k, dev)
        o2 = torch.zeros_like(o1)
    x = kc[:, None]                                                  # [N, 1, s, s] vs pv [N, K, s, s]
    both = torch.minimum(x, pv) >= 0
    agree = (both & (pv == x) & ~_self(kind, size, side(kc), o1, o2)).flatten(2).sum(2, dtype=torch.int32)
    clash = (both & (pv != x)).flatten(2).any(2)
    score = torch.where(clash, -1, agree)                            # [N, K]
    best, j = score.amax(1), score.argmax(1)
    return o1[j], o2[j], (best > 0) & (2 * best >= (kc >= 0).flatten(1).sum(1, dtype=torch.int32))


def sym_fill(cells: Tensor, size: Tensor, known: Tensor) -> tuple[Tensor, Tensor]:
    """Fill the unknown cells of each grid from the symmetries that fit its known cells -> (cells, filled [N])."""
    kc = torch.where(known, cells, -1).to(torch.int8)
    fits = [(kind, *_fit_symmetry(kind, kc, size)) for kind in KINDS]
    inn = inside(size, side(cells))
    for _ in range(ROUNDS):
        for kind, o1, o2, use in fits:
            pv = _take(kc, size, *_partner(kind, size, side(cells), o1[:, None, None], o2[:, None, None]))
            kc = torch.where((kc < 0) & inn & (pv >= 0) & use[:, None, None], pv, kc)
    return torch.where(kc >= 0, kc.long(), cells), ~(inn & (kc < 0)).flatten(1).any(1)


# ----------------------------------------------------------------------------------------------- periodic fill
SHEARS = (-1, 1)   # diagonal lattices tried besides the rectangular one: column shift per vertical period
SHEAR_MAX = 4      # largest vertical period tried with a shear


def _shift_clash(kc: Tensor) -> Tensor:
    """[N, s] bool: ``[:, t]`` some two known cells t columns apart in one row differ (kc: -1 unknown)."""
    s = side(kc)
    win = F.pad(kc, (0, s - 1), value=-1).unfold(2, s, 1)           # [N, s, s (t), s (j)] = kc[n, i, j + t]
    x = kc[:, :, None, :]
    return ((torch.minimum(x, win) >= 0) & (x != win)).any(3).any(1)


def _min_period(clash: Tensor, ext: Tensor) -> Tensor:
    """Smallest p < ext with no clash at any multiple of p (an exact period of the known cells) -> [N] (else ext)."""
    s = clash.shape[-1]
    p = torch.arange(1, s, device=clash.device)
    mult = p[None, :] % p[:, None] == 0                               # [p, t]
    bad = (clash[:, None, 1:] & mult).any(2)                          # [N, p]
    best = torch.where(~bad & (p < ext[:, None]), p, s).amin(1)
    return torch.where(best < s, best, ext)


def _class_range(kc: Tensor, cls: Tensor) -> tuple[Tensor, Tensor]:
    """Per class (``cls [N, s*s]`` in 0..s*s-1) the min and max known colour of ``kc``: [N, s*s] (99 / -1 if none)."""
    k = kc.flatten(1).long()
    mn = torch.full_like(k, 99).scatter_reduce(1, cls, torch.where(k >= 0, k, 99), "amin")
    return mn, torch.full_like(k, -1).scatter_reduce(1, cls, k, "amax")


def _lattice_classes(s: int, py: Tensor | int, px: Tensor, sh: Tensor | int) -> Tensor:
    """Class of every cell, (i mod py, (j + sh * (i // py)) mod px), flat in 0..s*s-1 -> [N, s*s] (tensors
    [N, 1, 1])."""
    rows, cols = coords(s, px.device)
    return ((rows % py) * s + (cols + sh * (rows // py)) % px).flatten(1)


def _lattice(kc: Tensor, size: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Smallest horizontal period px of the known cells (``kc``, -1 unknown), then the smallest vertical lattice
    vector (py, shear) consistent with it (shear only where px < w; ties prefer no shear) -> (py, px, shear)."""
    h, w = size[:, 0], size[:, 1]
    px = _min_period(_shift_clash(kc), w)
    py = _min_period(_shift_clash(kc.transpose(1, 2)), h)
    sh = torch.zeros_like(py)
    for p in range(1, SHEAR_MAX + 1):
        for s in SHEARS:
            mn, mx = _class_range(kc, _lattice_classes(side(kc), p, px[:, None, None], s))
            fit = ((mx < 0) | (mn == mx)).all(1) & (p < py) & (px < w)
            py, sh = torch.where(fit, p, py), torch.where(fit, s, sh)
    return py, px, sh


def period_fill(cells: Tensor, size: Tensor, known: Tensor) -> tuple[Tensor, Tensor]:
    """Fill unknown cells from the smallest periodic lattice of the known cells -> (cells, filled [N]).

    Classes are (i mod py, (j + shear * (i // py)) mod px); each must hold one colour among its known cells.
    """
    n, s = cells.shape[0], side(cells)
    kc = torch.where(known, cells, -1).to(torch.int8)
    cls = _lattice_classes(s, *(x[:, None, None] for x in _lattice(kc, size)))
    mn, mx = _class_range(kc, cls)
    val = mx.gather(1, cls).view(n, s, s)
    filled = ((mx < 0) | (mn == mx)).all(1) & ~(inside(size, s) & (val < 0)).flatten(1).any(1)
    return torch.where(known, cells, val), filled


def _masked(g: GridBatch, demos: DemoTargets) -> tuple[Tensor, Tensor]:
    """Cells of the fitted mask colour and ok (the colour fits and the grid holds some): cached per batch and demos,
    like the two fills below, so the primitives of one expansion step share them."""

    def compute():
        c, ok = fit_mask_colour(g, demos)
        mask = g.inside & (g.cells == c[:, None, None])
        return demos, mask, ok & mask.flatten(1).any(1)   # demos kept alive: its id stays unique in the key

    return g.cached(f"symmetry.masked.{id(demos)}", compute)[1:]


def _filled(g: GridBatch, demos: DemoTargets, how) -> tuple[Tensor, Tensor]:
    """``how`` (sym_fill or period_fill) of the cells outside the fitted mask, cached per batch and demos."""
    return g.cached(f"symmetry.{how.__name__}.{id(demos)}",
                    lambda: how(g.cells, g.size, g.inside & ~_masked(g, demos)[0]))


@primitive("complete_symmetry_fit", FAM, fitted=True)
def complete_symmetry_fit(g: GridBatch, demos: DemoTargets):
    """Cells of the fitted mask colour take the colour of their mirror partner under the grid's own symmetries
    (mirrors, transposes, 180-degree rotation; axes possibly a few cells off-centre)."""
    _, ok = _masked(g, demos)
    cells, filled = _filled(g, demos, sym_fill)
    return cells, g.size, ok & filled


@primitive("pattern_continue_fit", FAM, fitted=True)
def pattern_continue_fit(g: GridBatch, demos: DemoTargets):
    """Cells of the fitted mask colour are filled by continuing the grid's smallest 2D periodic pattern."""
    _, ok = _masked(g, demos)
    cells, filled = _filled(g, demos, period_fill)
    return cells, g.size, ok & filled


@primitive("crop_hidden_fit", FAM, fitted=True)
def crop_hidden_fit(g: GridBatch, demos: DemoTargets):
    """Output what is hidden under the fitted mask colour's bounding box, restored by symmetry (or, where no
    symmetry fills it, by periodicity)."""
    mask, ok = _masked(g, demos)
    sym, sym_ok = _filled(g, demos, sym_fill)
    per, per_ok = _filled(g, demos, period_fill)
    cells = torch.where(sym_ok[:, None, None], sym, per)
    out, size = crop(cells, *bbox(mask)[:4])
    return out, size, ok & (sym_ok | per_ok)


# ----------------------------------------------------------------------------------------------- pattern extension
EXT_SHIFTS = (0, 1, -1, 2, -2)  # sideways drift allowed per period when continuing a pattern
EXT_PERIOD = 10                 # longest period continued


def _translation(kc: Tensor, ext: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Smallest d (2d <= ext, or at least two rows past the first period: d <= ext - 2) and sideways shift e such
    that every known cell (i, j) with i >= d agrees with ``kc[i - d, j - e]`` where that is known, and equals it if
    it is not background -> (d, e, found), each [N].
    Ties prefer the shifts in ``EXT_SHIFTS`` order."""
    dm, em, s = EXT_PERIOD, max(EXT_SHIFTS), side(kc)
    dev = kc.device
    p = F.pad(kc, (em, em, dm, 0), value=-1)                                 # p[n, i + dm, j + em] = kc[n, i, j]
    d = dm - torch.arange(dm + 1, device=dev)                                # window a <-> period d = dm - a
    later = torch.arange(s, device=dev).view(1, s, 1) >= d.view(-1, 1, 1)   # [D, s, 1]: row i has a predecessor
    x = kc[:, None]
    best_d, best_e = torch.full_like(ext, s), torch.zeros_like(ext)
    for e in EXT_SHIFTS:
        pred = p[:, :, em - e: em - e + s].unfold(1, s, 1).transpose(2, 3)  # [N, D, s, s] = kc[n, i - d, j - e]
        bad = (x >= 0) & (x != pred) & ((pred >= 0) | (x != BG)) & later
        fit = ~bad.flatten(2).any(2) & (d >= 1) & ((2 * d <= ext[:, None]) | (d <= ext[:, None] - 2))
        dd = torch.where(fit, d, s).amin(1)
        better = dd < best_d
        best_d, best_e = torch.where(better, dd, best_d), torch.where(better, e, best_e)
    found = best_d < s
    return torch.where(found, best_d, 1), best_e, found


def _continue(cells: Tensor, h: Tensor, new_h: Tensor, w: Tensor, d: Tensor, e: Tensor) -> Tensor:
    """Rows i >= h copy row i - k d shifted sideways by k e (k = ceil((i - h + 1) / d)); BG off the sides."""
    rows, cols = coords(side(cells), cells.device)
    h, new_h, w, d, e = (x[:, None, None] for x in (h, new_h, w, d.clamp(min=1), e))
    k = torch.where(rows >= h, (rows - h + d) // d, 0)
    r, c = rows - k * d, cols - k * e
    take = (rows < new_h) & (cols < w)
    return torch.where(take, remap(cells, r, c, take & (c >= 0) & (c < w), BG), PAD)


def fit_out_size(g: GridBatch, demos: DemoTargets) -> tuple[Tensor, Tensor]:
    """Output sizes [N, 2]: the demos' consistent integer size ratio, else their common size -> (size, ok [N])."""
    G = demos.slots
    q, ok_r = fit_ratio(demos.target_size, view_slots(g.size, G), demos)
    t = first_demo(demos.target_size, demos)
    ok_c = ((demos.target_size == t[:, None]).all(-1) | ~demos.has_target).all(1) & demos.has_target.any(1)
    size = torch.where(per_grid(ok_r, G)[:, None], g.size * per_grid(q, G), per_grid(t, G))
    return size, per_grid(ok_r | ok_c, G)


@primitive("extend_pattern_fit", FAM, fitted=True)
def extend_pattern_fit(g: GridBatch, demos: DemoTargets):
    """Grow the grid to the fitted output size by continuing its pattern: the smallest repeat to the right
    (possibly drifting up/down) and downwards (possibly drifting sideways)."""
    size, ok = fit_out_size(g, demos)
    h, w, H, W = g.size[:, 0], g.size[:, 1], size[:, 0], size[:, 1]
    kc = torch.where(g.inside, g.cells, -1).to(torch.int8)
    dh, eh, fh = _translation(kc.transpose(1, 2), w)    # to the right: cell(i + eh, j + dh) == cell(i, j)
    dv, ev, fv = _translation(kc, h)                    # downwards:    cell(i + dv, j + ev) == cell(i, j)
    wide = _continue(g.cells.transpose(1, 2), w, W, h, dh, eh).transpose(1, 2)
    out = _continue(wide, h, H, W, dv, ev)
    ok = ok & (H >= h) & (W >= w) & ((H > h) | (W > w)) & (fh | (W == w)) & (fv | (H == h))
    return out, size, ok
