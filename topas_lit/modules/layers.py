"""Shared building blocks: pre-norm transformer blocks (self- and cross-attention) and an MLP."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class MLP(nn.Module):
    def __init__(self, d: int, hidden: int, d_out: int | None = None, out_bias: bool = True):
        super().__init__()
        self.fc = nn.Linear(d, hidden)
        self.proj = nn.Linear(hidden, d_out or d, bias=out_bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(F.gelu(self.fc(x)))


class Attention(nn.Module):
    """Multi-head attention through ``scaled_dot_product_attention``; ``mask [B, Lk]`` True = attend."""

    def __init__(self, d: int, heads: int):
        super().__init__()
        assert d % heads == 0, f"d_model {d} must be divisible by heads {heads}"
        self.heads = heads
        self.q = nn.Linear(d, d)
        self.kv = nn.Linear(d, 2 * d)
        self.out = nn.Linear(d, d)

    def forward(self, x: Tensor, context: Tensor, mask: Tensor | None = None) -> Tensor:
        b, lq, d = x.shape
        lk = context.shape[1]
        q = self.q(x).view(b, lq, self.heads, -1).transpose(1, 2)            # [B, H, Lq, dh]
        k, v = self.kv(context).view(b, lk, 2, self.heads, -1).permute(2, 0, 3, 1, 4)
        attn_mask = None if mask is None else mask[:, None, None, :]         # [B, 1, 1, Lk]
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.out(y.transpose(1, 2).reshape(b, lq, d))


class Block(nn.Module):
    """Pre-norm transformer block: self-attention (+ optional cross-attention) and an MLP."""

    def __init__(self, d: int, heads: int, cross: bool = False, mlp_ratio: int = 4):
        super().__init__()
        self.norm1 = nn.LayerNorm(d)
        self.attn = Attention(d, heads)
        self.cross = Attention(d, heads) if cross else None
        self.norm_c = nn.LayerNorm(d) if cross else None
        self.norm2 = nn.LayerNorm(d)
        self.mlp = MLP(d, mlp_ratio * d)

    def forward(self, x: Tensor, mask: Tensor | None = None, context: Tensor | None = None,
                context_mask: Tensor | None = None) -> Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h, mask)
        if self.cross is not None:
            x = x + self.cross(self.norm_c(x), context, context_mask)
        return x + self.mlp(self.norm2(x))
