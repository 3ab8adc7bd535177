"""ObjectSlots of the sequence solver: what object each input cell belongs to, as an addition to its token.

The input grid's connected components (4-connected, one colour, background included) are labelled on the device;
each input cell's token gets the embeddings of its object's size (log2 bucket), height and width. Output tokens
get nothing (their grid is being painted). Selectable (``model.slots.enabled``); it stays out of the default
recipe unless an ablation shows it adds something.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from topas_lit.data.sequences import Z_IN
from topas_lit.modules.dsl.components import Components, label_components
from topas_lit.modules.dsl.grid import S, inside

SIZE_BUCKETS = 11    # log2 of the object's cell count, 1 .. 900


class ObjectSlots(nn.Module):
    def __init__(self, d_model: int):
        super().__init__()
        self.size = nn.Embedding(SIZE_BUCKETS, d_model)
        self.height = nn.Embedding(S + 1, d_model)
        self.width = nn.Embedding(S + 1, d_model)
        for emb in (self.size, self.height, self.width):
            nn.init.normal_(emb.weight, std=0.02)

    def forward(self, inp: Tensor, in_size: Tensor, positions: Tensor) -> Tensor:
        """inp [B, 30, 30] (PAD outside), in_size [B, 2], positions [B, L, 3] -> per-token additions [B, L, d]."""
        b = inp.shape[0]
        fg = inside(in_size)
        comp = Components(inp, in_size, label_components(inp, fg, diag=False, multi=False), fg, multi=False)
        count = comp.cell(comp.count).clamp(min=1)
        bucket = torch.log2(count).floor().long().clamp(max=SIZE_BUCKETS - 1)
        feat = self.size(bucket) + self.height(comp.cell(comp.height).long().clamp(0, S)) \
            + self.width(comp.cell(comp.width).long().clamp(0, S))                     # [B, 30, 30, d]
        x, y, z = positions.unbind(-1)
        on_cell = (z == Z_IN) & (x < in_size[:, 1, None])
        flat = y.clamp(max=S - 1) * S + x.clamp(max=S - 1)
        d = feat.shape[-1]
        picked = feat.reshape(b, S * S, d).gather(1, flat[..., None].expand(-1, -1, d))
        return picked * on_cell[..., None].to(picked.dtype)
