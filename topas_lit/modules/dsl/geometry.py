"""Geometry primitives: the 8 dihedral transforms, one-cell shifts and a fitted translation.

Also the helpers shared with ``scaling.py`` and ``symmetry.py``: ``dihedral``, ``shifted`` and the fitting helpers
``first_demo``, ``fit_match``, ``fit_ratio``, ``pick_first``, ``per_grid``. All index maps are computed from the
sizes; content stays at the top-left.
"""
from __future__ import annotations

import torch
from torch import Tensor

from topas_lit.modules.dsl.grid import BG, PAD, bbox, coords, inside, remap, side
from topas_lit.modules.dsl.registry import DemoTargets, GridBatch, primitive, view_slots

FAM = "geometry"


# ----------------------------------------------------------------------------------------------- shared helpers
def dihedral(cells: Tensor, size: Tensor, swap: bool, flip_r: bool, flip_c: bool) -> tuple[Tensor, Tensor]:
    """``out[i, j] = in[a, b]`` with (a, b) = (j, i) if ``swap`` else (i, j), then a -> h-1-a, b -> w-1-b."""
    rows, cols = coords(side(cells), cells.device)
    r, c = (cols, rows) if swap else (rows, cols)
    if flip_r:
        r = size[:, 0, None, None] - 1 - r
    if flip_c:
        c = size[:, 1, None, None] - 1 - c
    out_size = size.flip(-1) if swap else size
    return remap(cells, r, c, inside(out_size, side(cells))), out_size


def shifted(cells: Tensor, size: Tensor, dy: Tensor | int, dx: Tensor | int) -> Tensor:
    """Move the content by (dy, dx) (each [N] or int) inside its frame; background fills the vacated cells."""
    rows, cols = coords(side(cells), cells.device)
    if isinstance(dy, Tensor):
        dy, dx = dy[:, None, None], dx[:, None, None]
    r, c = rows - dy, cols - dx
    take = (r >= 0) & (r < size[:, 0, None, None]) & (c >= 0) & (c < size[:, 1, None, None])
    return torch.where(inside(size, side(cells)), remap(cells, r, c, take, BG), PAD)


def first_demo(x: Tensor, demos: DemoTargets) -> Tensor:
    """Value of ``x [M, G, ...]`` at each candidate's first slot with a target -> [M, ...]."""
    k = demos.has_target.long().argmax(1)
    idx = k.view(-1, *([1] * (x.dim() - 1))).expand(-1, 1, *x.shape[2:])
    return x.gather(1, idx).squeeze(1)


def fit_match(cells: Tensor, size: Tensor, demos: DemoTargets) -> Tensor:
    """[M] bool: the outputs ``cells [M*G, s, s]`` (PAD outside ``size``) equal every demo target."""
    cells = torch.where(inside(size, side(cells)), cells, PAD)
    eq = (view_slots(cells, demos.slots) == demos.target).flatten(2).all(2)
    return (eq | ~demos.has_target).all(1) & demos.has_target.any(1)


def fit_ratio(num: Tensor, den: Tensor, demos: DemoTargets) -> tuple[Tensor, Tensor]:
    """Integer ratio ``num / den`` of sizes ([M, G, 2]) the same on every demo slot -> (q [M, 2], ok [M])."""
    den = den.clamp(min=1)
    q, r = num // den, num % den
    q0 = first_demo(q, demos)
    good = ((q == q0[:, None]) & (r == 0)).all(-1) | ~demos.has_target
    return q0, good.all(1) & demos.has_target.any(1) & (q0 >= 1).all(-1)


def pick_first(matches: list[Tensor]) -> tuple[Tensor, Tensor]:
    """Index of the first True in a list of [M] masks -> (k [M], ok [M])."""
    m = torch.stack(matches, 1)
    return m.long().argmax(1), m.any(1)


def per_grid(x: Tensor, slots: int) -> Tensor:
    """Repeat a per-candidate tensor [M, ...] over its G slots -> [M*G, ...]."""
    return x[:, None].expand(x.shape[0], slots, *x.shape[1:]).reshape(-1, *x.shape[1:])


def _all(g: GridBatch) -> Tensor:
    return g.size[:, 0] > 0


# ----------------------------------------------------------------------------------------------- dihedral group
def _dihedral_prim(name: str, swap: bool, flip_r: bool, flip_c: bool, doc: str):
    def fn(g: GridBatch):
        cells, size = dihedral(g.cells, g.size, swap, flip_r, flip_c)
        return cells, size, _all(g)

    fn.__doc__ = doc
    fn.__name__ = name
    primitive(name, FAM)(fn)
    return fn


rot90 = _dihedral_prim("rot90", True, True, False, "Rotate 90 degrees clockwise.")
rot180 = _dihedral_prim("rot180", False, True, True, "Rotate 180 degrees.")
rot270 = _dihedral_prim("rot270", True, False, True, "Rotate 90 degrees counter-clockwise.")
flip_lr = _dihedral_prim("flip_lr", False, False, True, "Mirror left-right (reverse each row).")
flip_ud = _dihedral_prim("flip_ud", False, True, False, "Mirror up-down (reverse the row order).")
transpose = _dihedral_prim("transpose", True, False, False, "Transpose (mirror on the main diagonal).")
antitranspose = _dihedral_prim("antitranspose", True, True, True, "Mirror on the anti-diagonal.")


# ----------------------------------------------------------------------------------------------- shifts
def _shift_prim(name: str, dy: int, dx: int):
    def fn(g: GridBatch):
        return shifted(g.cells, g.size, dy, dx), g.size, _all(g)

    fn.__doc__ = f"Shift the content by ({dy}, {dx}) cells; background fills the vacated row/column."
    fn.__name__ = name
    primitive(name, FAM)(fn)
    return fn


shift_up = _shift_prim("shift_up", -1, 0)
shift_down = _shift_prim("shift_down", 1, 0)
shift_left = _shift_prim("shift_left", 0, -1)
shift_right = _shift_prim("shift_right", 0, 1)


@primitive("translate_fit", FAM, fitted=True)
def translate_fit(g: GridBatch, demos: DemoTargets):
    """Shift by the offset (dy, dx) != (0, 0) that maps every demo input onto its output (BG fills, any offset).

    Candidate offsets come from the foreground bounding boxes of the first demo (top-left or bottom-right corners
    aligned); the first one reproducing all demos is applied to every slot.
    """
    G = demos.slots
    t0, l0, h0, w0, _ = bbox(g.inside & (g.cells != BG))
    tgt = demos.target.flatten(0, 1)
    t1, l1, h1, w1, _ = bbox((tgt != BG) & (tgt != PAD))

    def first(x):
        return first_demo(view_slots(x, G), demos)

    dys, dxs = (first(t1 - t0), first(t1 + h1 - t0 - h0)), (first(l1 - l0), first(l1 + w1 - l0 - w0))
    cands = torch.stack([torch.stack([dy, dx], 1) for dy in dys for dx in dxs], 1)      # [M, 4, 2]

    def move(d):
        return shifted(g.cells, g.size, per_grid(d[:, 0], G), per_grid(d[:, 1], G))

    k, ok = pick_first([fit_match(move(cands[:, i]), g.size, demos) & (cands[:, i] != 0).any(1) for i in range(4)])
    d = cands.gather(1, k[:, None, None].expand(-1, 1, 2))[:, 0]
    return move(d), g.size, per_grid(ok, G)
