"""HyLa policy: a small head on the task latent proposing DSL programs, distilled from what search found."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from topas_lit.modules.layers import MLP


class HyLaPolicy(nn.Module):
    """Per-step op logits: forward(latent [B, d]) -> logits [B, depth, n_ops].

    Step t's distribution is conditioned on the step (learned step embedding); identity (op 0) at a step means
    the program is shorter. Its per-step log-probabilities score programs in the policy and beam rails.
    """

    def __init__(self, d_model: int, n_ops: int, depth: int):
        super().__init__()
        self.step = nn.Parameter(torch.randn(depth, d_model) * d_model ** -0.5)
        self.mlp = MLP(d_model, 2 * d_model)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, n_ops)

    def forward(self, latent: Tensor) -> Tensor:
        h = latent[:, None, :] + self.step[None]          # [B, depth, d]
        return self.head(self.norm(h + self.mlp(h)))
