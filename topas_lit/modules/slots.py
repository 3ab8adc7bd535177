"""ObjectSlots: slot attention over a grid's cell features (padding masked) -> object slot vectors."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from topas_lit.modules.layers import MLP


class GRUUpdate(nn.Module):
    """GRU cell written out (composes with torch.func.vmap, unlike nn.GRUCell's fused kernel)."""

    def __init__(self, d: int):
        super().__init__()
        self.x2h = nn.Linear(d, 3 * d)
        self.h2h = nn.Linear(d, 3 * d)

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        xr, xz, xn = self.x2h(x).chunk(3, -1)
        hr, hz, hn = self.h2h(h).chunk(3, -1)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        return (1 - z) * torch.tanh(xn + r * hn) + z * h


class ObjectSlots(nn.Module):
    """Slot attention (Locatello et al. 2020) with a learned, deterministic slot initialisation.

    forward(features [N, L, d], mask [N, L]) -> slots [N, K, d]
    """

    def __init__(self, d_model: int, n_slots: int = 8, iters: int = 3):
        super().__init__()
        self.iters = iters
        self.init = nn.Parameter(torch.randn(n_slots, d_model) * d_model ** -0.5)
        self.norm_in = nn.LayerNorm(d_model)
        self.norm_slots = nn.LayerNorm(d_model)
        self.norm_mlp = nn.LayerNorm(d_model)
        self.to_q = nn.Linear(d_model, d_model, bias=False)
        self.to_kv = nn.Linear(d_model, 2 * d_model, bias=False)
        self.gru = GRUUpdate(d_model)
        self.mlp = MLP(d_model, 2 * d_model)
        self.scale = 1.0 / math.sqrt(d_model)

    def forward(self, features: Tensor, mask: Tensor) -> Tensor:
        n, _, d = features.shape
        k, v = self.to_kv(self.norm_in(features)).chunk(2, -1)          # [N, L, d] each
        slots = self.init.expand(n, -1, -1)
        keep = mask.unsqueeze(-1).to(k.dtype)                             # [N, L, 1]
        for _ in range(self.iters):
            q = self.to_q(self.norm_slots(slots))                         # [N, K, d]
            attn = torch.softmax(torch.einsum("nld,nkd->nlk", k, q) * self.scale, -1) * keep
            weights = attn / (attn.sum(1, keepdim=True) + 1e-6)           # mean over each slot's cells
            updates = torch.einsum("nlk,nld->nkd", weights, v)
            slots = self.gru(updates, slots)
            slots = slots + self.mlp(self.norm_mlp(slots))
        return slots
