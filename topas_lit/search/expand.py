"""One expansion step: every kept state of every task, by every op, in one batched call per primitive.

States are uint8 [T, K, G, s, s]; the primitives (``topas_lit.modules.dsl``) run on the int32 cells of all
T * K * G grids at once, sharing one ``GridBatch`` so that per-state features (connected components, colour
counts, panels, neighbourhoods) are computed once per state and reused by every primitive that reads them.
Children come back uint8 [T, K, P, G, s, s] (P = ops expanded), with sizes and per-slot ok flags.
"""
from __future__ import annotations

import torch
from torch import Tensor

from topas_lit.modules.dsl.grid import PAD, clamp_size, inside, size_ok
from topas_lit.modules.dsl.registry import DemoTargets, GridBatch, Primitive
from topas_lit.search.pack import Packed

CELL_DTYPE = torch.int32   # the primitives' working dtype here (half the memory traffic of int64, same results)


def demo_targets(packed: Packed, k: int) -> DemoTargets:
    """The targets of T tasks repeated for K states each (M = T * K candidates), as fitted primitives read them."""
    t, g = packed.has_target.shape

    def rep(x: Tensor) -> Tensor:
        return x[:, None].expand(t, k, *x.shape[1:]).reshape(t * k, *x.shape[1:])

    return DemoTargets(rep(packed.target.long()), rep(packed.target_size), rep(packed.has_target), rep(packed.exists))


def apply_u8(prim: Primitive, g: GridBatch, demos: DemoTargets, cells_u8: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``apply_primitive``'s contract with uint8 outputs and fewer passes over the long cells: an output over the
    canvas, or with a value other than 0..9 inside its grid, is not ok and replaced by the input (``cells_u8``, the
    input as uint8); PAD outside the grid."""
    cells, size, ok = prim.fn(g, demos) if prim.fitted else prim.fn(g)
    s = g.side
    ok = ok & size_ok(size, s)
    size = torch.where(ok[:, None], clamp_size(size, s), g.size)
    inn = inside(size, s)
    ok = ok & ~(((cells < 0) | (cells >= PAD)) & inn).flatten(1).any(1)
    out = torch.where(inn, cells.to(torch.uint8), PAD)
    return torch.where(ok[:, None, None], out, cells_u8), size, ok


def expand(prims: list[Primitive], cells: Tensor, size: Tensor, packed: Packed) -> tuple[Tensor, Tensor, Tensor]:
    """cells [T, K, G, s, s] uint8, size [T, K, G, 2] -> children (cells [T, K, P, G, s, s] uint8,
    size [T, K, P, G, 2], ok [T, K, P, G]) for the P primitives ``prims``, in that order."""
    t, k, g, s = cells.shape[0], cells.shape[1], cells.shape[2], cells.shape[-1]
    flat = cells.reshape(-1, s, s)
    batch = GridBatch(flat.to(CELL_DTYPE), size.reshape(-1, 2))
    demos = demo_targets(packed, k)
    out = torch.empty(t, k, len(prims), g, s, s, dtype=torch.uint8, device=cells.device)
    sizes, oks = [], []
    for i, prim in enumerate(prims):
        c, sz, ok = apply_u8(prim, batch, demos, flat)
        out[:, :, i] = c.view(t, k, g, s, s)
        sizes.append(sz.view(t, k, g, 2))
        oks.append(ok.view(t, k, g))
    return out, torch.stack(sizes, 2), torch.stack(oks, 2)
