"""The primitive registry and the two batch views primitives read.

A primitive is a batched function on padded grids on an s x s canvas (see ``grid.py``):

- plain: ``fn(g: GridBatch) -> (cells [N,s,s], size [N,2], ok [N])``;
- fitted: ``fn(g: GridBatch, demos: DemoTargets) -> (cells, size, ok)`` where the N = M * G grids are M
  candidates x G slots (demo inputs then test inputs). A fitted primitive reads the demo outputs of each
  candidate's task to fit its parameters (a colour map, a scale factor, an offset) on the device and applies
  them to every slot of that candidate, test slots included. ``ok`` is False where the fit is inconsistent.

``ok`` False marks an output as unusable (empty crop, size over the canvas, no object, failed fit). Outputs must hold
PAD outside their size; ``apply_primitive`` enforces it and folds size overflow into ``ok``.
Registration order fixes the op ids; id 0 is ``identity``, also used to pad programs shorter than the depth.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from topas_lit.modules.dsl.grid import PAD, S, clamp_size, colour_counts, inside, repad, size_ok


class GridBatch:
    """N padded grids plus a memo of derived features (components, colour counts) shared by the primitives
    applied to the same states in one expansion step."""

    def __init__(self, cells: Tensor, size: Tensor):
        self.cells = cells  # [N, s, s] long
        self.size = size    # [N, 2] long
        self._memo: dict[str, object] = {}

    def __len__(self) -> int:
        return self.cells.shape[0]

    @property
    def side(self) -> int:
        """The canvas side s."""
        return self.cells.shape[-1]

    def cached(self, key: str, compute: Callable[[], object]):
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    @property
    def inside(self) -> Tensor:
        return self.cached("inside", lambda: inside(self.size, self.side))

    @property
    def counts(self) -> Tensor:
        """[N, 10] colour histogram inside each grid."""
        return self.cached("counts", lambda: colour_counts(self.cells))


@dataclass
class DemoTargets:
    """Demo outputs aligned with a GridBatch of M candidates x G slots (all [M, G, ...])."""

    target: Tensor       # [M, G, s, s] long, PAD where no target
    target_size: Tensor  # [M, G, 2]
    has_target: Tensor   # [M, G] bool: a demo slot with a known output
    exists: Tensor       # [M, G] bool: the slot holds a real grid (demo or test)

    @property
    def slots(self) -> int:
        return self.target.shape[1]


@dataclass(frozen=True)
class Primitive:
    name: str
    family: str
    fn: Callable
    fitted: bool = False


PRIMITIVES: list[Primitive] = []


def primitive(name: str, family: str, fitted: bool = False):
    """Decorator registering a batched primitive under ``name``."""

    def register(fn):
        if any(p.name == name for p in PRIMITIVES):
            raise ValueError(f"primitive {name!r} registered twice")
        PRIMITIVES.append(Primitive(name, family, fn, fitted))
        return fn

    return register


def apply_primitive(prim: Primitive, g: GridBatch, demos: DemoTargets | None) -> tuple[Tensor, Tensor, Tensor]:
    """Run one primitive on all grids; returns (cells, size, ok).

    Enforced here for every family: size overflow folds into ``ok``; not-ok outputs are replaced by the input
    (so junk never reaches a later step, where an out-of-range colour would be a device-side assert on CUDA);
    colours inside the grid are 0..9 (a stray PAD inside makes the output not ok); PAD outside.
    """
    if prim.fitted:
        cells, size, ok = prim.fn(g, demos)
    else:
        cells, size, ok = prim.fn(g)
    s = g.side
    ok = ok & size_ok(size, s)
    size = clamp_size(size, s)
    cells = repad(cells, size)
    ok = ok & ((cells >= 0) & (cells <= PAD) & ((cells < PAD) | ~inside(size, s))).flatten(1).all(1)
    cells = torch.where(ok[:, None, None], cells, g.cells)
    size = torch.where(ok[:, None], size, g.size)
    return cells, size, ok


@primitive("identity", "geometry")
def identity(g: GridBatch):
    return g.cells, g.size, g.size[:, 0] > 0


def view_slots(x: Tensor, slots: int) -> Tensor:
    """[M * G, ...] -> [M, G, ...]."""
    return x.view(-1, slots, *x.shape[1:])


__all__ = ["GridBatch", "DemoTargets", "Primitive", "PRIMITIVES", "primitive", "apply_primitive", "view_slots", "S"]
