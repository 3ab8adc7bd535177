"""Painter: paints the output grid cell by cell from the test input's cells and the reasoning tokens."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from topas_lit.modules.dsl.grid import N_COLOURS, S
from topas_lit.modules.layers import MLP, Block


class Painter(nn.Module):
    """Cells of the 30x30 output canvas attend to each other and to the HRM tokens.

    forward(test_feats [B, 900, d], test_cells [B, 30, 30], tokens [B, L, d], token_mask [B, L],
            latent [B, d], test_size [B, 2]) -> (logits [B, 30, 30, 10], size_logits [B, 2, 30])
    A learned copy gain adds the test input's colour to the logits (most outputs share cells with the input).
    """

    def __init__(self, d_model: int, heads: int = 4, layers: int = 1):
        super().__init__()
        self.inject = nn.Linear(2 * d_model, d_model)
        self.blocks = nn.ModuleList(Block(d_model, heads, cross=True) for _ in range(layers))
        self.norm = nn.LayerNorm(d_model)
        self.to_logits = nn.Linear(d_model, N_COLOURS)
        self.copy_gain = nn.Parameter(torch.tensor(2.0))
        self.side = nn.Embedding(S, d_model)
        self.size_head = MLP(3 * d_model, 2 * d_model, 2 * S)

    def forward(self, test_feats: Tensor, test_cells: Tensor, tokens: Tensor, token_mask: Tensor,
                latent: Tensor, test_size: Tensor) -> tuple[Tensor, Tensor]:
        b = test_feats.shape[0]
        x = self.inject(torch.cat([test_feats, latent[:, None, :].expand_as(test_feats)], -1))
        for block in self.blocks:
            x = block(x, None, tokens, token_mask)
        logits = self.to_logits(self.norm(x)).view(b, S, S, N_COLOURS)
        colours = torch.arange(N_COLOURS, device=test_cells.device)
        copy = (test_cells[..., None] == colours).to(logits.dtype)                 # one-hot; PAD -> zeros
        logits = logits + self.copy_gain * copy
        sides = self.side(test_size - 1).flatten(1)                                 # [B, 2d]
        size_logits = self.size_head(torch.cat([latent, sides], -1)).view(b, 2, S)
        return logits, size_logits
