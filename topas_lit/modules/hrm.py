"""HRM core: a slow high-level state z_H updated once every few steps of a fast low-level state z_L."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from topas_lit.modules.layers import Block


class HRMCore(nn.Module):
    """Hierarchical two-timescale reasoning over the task's tokens (demo pairs and test input).

    Each cycle runs ``low_steps`` updates of z_L (input-injected, conditioned on z_H), then one update of z_H
    from z_L. forward(tokens [B, L, d], mask [B, L]) -> (z_H [B, L, d], latent [B, d]) where the latent
    ("brain") is the masked mean of z_H.
    """

    def __init__(self, d_model: int, heads: int = 4, layers: int = 2, cycles: int = 2, low_steps: int = 2):
        super().__init__()
        self.cycles, self.low_steps = cycles, low_steps
        self.low = nn.ModuleList(Block(d_model, heads) for _ in range(layers))
        self.high = nn.ModuleList(Block(d_model, heads) for _ in range(layers))
        self.init_low = nn.Parameter(torch.zeros(d_model))
        self.init_high = nn.Parameter(torch.zeros(d_model))
        self.norm = nn.LayerNorm(d_model)

    @staticmethod
    def _run(blocks: nn.ModuleList, x: Tensor, mask: Tensor) -> Tensor:
        for block in blocks:
            x = block(x, mask)
        return x

    def forward(self, tokens: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        z_low = tokens + self.init_low
        z_high = tokens + self.init_high
        for _ in range(self.cycles):
            for _ in range(self.low_steps):
                z_low = self._run(self.low, z_low + z_high + tokens, mask)
            z_high = self._run(self.high, z_high + z_low, mask)
        z_high = self.norm(z_high)
        keep = mask.unsqueeze(-1).to(z_high.dtype)
        latent = (z_high * keep).sum(1) / keep.sum(1).clamp(min=1.0)
        return z_high, latent
