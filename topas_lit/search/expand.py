"""One expansion step: every kept state of every task, by every op, in one batched call per primitive.

States are uint8 [T, K, G, s, s]; the primitives (``topas_lit.modules.dsl``) run on the long cells of all
T * K * G grids at once, sharing one ``GridBatch`` so that per-state features (connected components, colour
counts, panels, neighbourhoods) are computed once per state and reused by every primitive that reads them.
Children come back uint8 [T, K, P, G, s, s] (P = ops expanded), with sizes and per-slot ok flags.
"""
from __future__ import annotations

import torch
from torch import Tensor

from topas_lit.modules.dsl.registry import DemoTargets, GridBatch, Primitive, apply_primitive
from topas_lit.search.pack import Packed


def demo_targets(packed: Packed, k: int) -> DemoTargets:
    """The targets of T tasks repeated for K states each (M = T * K candidates), as fitted primitives read them."""
    t, g = packed.has_target.shape

    def rep(x: Tensor) -> Tensor:
        return x[:, None].expand(t, k, *x.shape[1:]).reshape(t * k, *x.shape[1:])

    return DemoTargets(rep(packed.target.long()), rep(packed.target_size), rep(packed.has_target), rep(packed.exists))


def expand(prims: list[Primitive], cells: Tensor, size: Tensor, packed: Packed) -> tuple[Tensor, Tensor, Tensor]:
    """cells [T, K, G, s, s] uint8, size [T, K, G, 2] -> children (cells [T, K, P, G, s, s] uint8,
    size [T, K, P, G, 2], ok [T, K, P, G]) for the P primitives ``prims``, in that order."""
    t, k, g, s = cells.shape[0], cells.shape[1], cells.shape[2], cells.shape[-1]
    batch = GridBatch(cells.reshape(-1, s, s).long(), size.reshape(-1, 2))
    demos = demo_targets(packed, k)
    outs, sizes, oks = [], [], []
    for prim in prims:
        c, sz, ok = apply_primitive(prim, batch, demos)
        outs.append(c.to(torch.uint8).view(t, k, g, s, s))
        sizes.append(sz.view(t, k, g, 2))
        oks.append(ok.view(t, k, g))
    return torch.stack(outs, 2), torch.stack(sizes, 2), torch.stack(oks, 2)
