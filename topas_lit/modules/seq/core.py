"""HRM core of the sequence solver: a causal transformer over a pair's tokens, optionally applied in cycles.

Blocks are pre-norm (RMSNorm), causal self-attention with 3-D rotary positions (SDPA: flash attention on the GPU
for training, where right padding needs no mask), and a SwiGLU MLP. ``cycles > 1`` applies the same stack again
with the encoder output injected at each cycle (HRM's recurrence with input injection, weights shared); at
``cycles = 1`` it is a plain transformer.

Decoding keeps a ``KVCache``: the prompt runs left-padded (pads masked out of every key), then each step adds
one token per sequence at a host-known position. No tensor value is read on the host.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from topas_lit.modules.seq.encoder import Rotary3D


class SwiGLU(nn.Module):
    def __init__(self, d: int, hidden: int, dropout: float):
        super().__init__()
        self.fc_in = nn.Linear(d, 2 * hidden, bias=False)
        self.fc_out = nn.Linear(hidden, d, bias=False)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        h, gate = self.fc_in(x).chunk(2, -1)
        return self.drop(self.fc_out(self.drop(h * F.silu(gate))))


@dataclass
class KVCache:
    """Per attention layer keys/values ``[B, H, T, head_dim]`` (allocated at the first write, in the dtype the
    layer computes in) and which of the T positions hold real tokens ``valid [B, T]``."""

    keys: list[Tensor | None]
    values: list[Tensor | None]
    valid: Tensor

    @classmethod
    def empty(cls, n_layers: int, prompt_valid: Tensor, length: int) -> "KVCache":
        """A cache of ``length`` positions whose first ones are a left-padded prompt (``prompt_valid [B, P]``);
        every later position holds a decoded token."""
        b, p = prompt_valid.shape
        valid = torch.ones(b, length, dtype=torch.bool, device=prompt_valid.device)
        valid[:, :p] = prompt_valid
        return cls([None] * n_layers, [None] * n_layers, valid)

    def write(self, layer: int, start: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Store k, v ``[B, H, n, hd]`` at positions start..start+n-1; return all keys/values up to there."""
        if self.keys[layer] is None:
            b, h, _, d = k.shape
            shape = (b, h, self.valid.shape[1], d)
            self.keys[layer] = torch.zeros(shape, dtype=k.dtype, device=k.device)
            self.values[layer] = torch.zeros(shape, dtype=v.dtype, device=v.device)
        end = start + k.shape[2]
        self.keys[layer][:, :, start:end] = k
        self.values[layer][:, :, start:end] = v
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]


class SelfAttention(nn.Module):
    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        if d % heads:
            raise ValueError(f"d_model {d} must be divisible by heads {heads}")
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.out = nn.Linear(d, d, bias=False)

    def _qkv(self, x: Tensor, cos: Tensor, sin: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        return Rotary3D.rotate(q, cos, sin), Rotary3D.rotate(k, cos, sin), v

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        """Training/scoring: causal attention over right-padded sequences (no mask needed)."""
        b, n, d = x.shape
        q, k, v = self._qkv(x, cos, sin)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(b, n, d))

    def cached(self, x: Tensor, cos: Tensor, sin: Tensor, cache: KVCache, layer: int, start: int,
               mask: Tensor) -> Tensor:
        """Tokens ``x [B, n, d]`` at cache positions start..start+n-1: write their keys/values, attend to the cached
        positions ``mask [B, 1, n, start + n]`` allows (causal, real tokens)."""
        b, n, d = x.shape
        q, k, v = self._qkv(x, cos, sin)
        keys, values = cache.write(layer, start, k, v)
        y = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)
        return self.out(y.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    def __init__(self, d: int, heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.norm1 = nn.RMSNorm(d, eps=1e-6)
        self.attn = SelfAttention(d, heads, dropout)
        self.norm2 = nn.RMSNorm(d, eps=1e-6)
        self.mlp = SwiGLU(d, d_ff, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, cache: KVCache | None = None, layer: int = 0,
                start: int = 0, mask: Tensor | None = None) -> Tensor:
        h = self.norm1(x)
        a = self.attn(h, cos, sin) if cache is None else self.attn.cached(h, cos, sin, cache, layer, start, mask)
        x = x + self.drop(a)
        return x + self.mlp(self.norm2(x))


class HRMCore(nn.Module):
    def __init__(self, d_model: int, heads: int, layers: int, d_ff: int, dropout: float = 0.0, cycles: int = 1):
        super().__init__()
        if layers < 1 or cycles < 1:
            raise ValueError(f"model.layers and model.cycles must be >= 1, got {layers}, {cycles}")
        self.heads, self.head_dim, self.cycles = heads, d_model // heads, cycles
        self.rotary = Rotary3D(self.head_dim)
        self.blocks = nn.ModuleList([Block(d_model, heads, d_ff, dropout) for _ in range(layers)])
        self.norm = nn.RMSNorm(d_model, eps=1e-6)
        self.reset_parameters(layers * cycles)

    def reset_parameters(self, depth: int) -> None:
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * depth) if name.endswith(("out.weight", "fc_out.weight")) else 0.02
                nn.init.normal_(p, std=std)

    @property
    def n_cache_layers(self) -> int:
        return len(self.blocks) * self.cycles

    def forward(self, x: Tensor, positions: Tensor, cache: KVCache | None = None, start: int = 0) -> Tensor:
        """x [B, L, d] (the encoder's output), positions [B, L, 3] -> normed hidden states [B, L, d]."""
        cos, sin = self.rotary.phases(positions)
        mask = None
        if cache is not None:        # one mask for every layer: causal, and only cached positions of real tokens
            n, end = x.shape[1], start + x.shape[1]
            causal = torch.ones(n, end, dtype=torch.bool, device=x.device).tril(start)
            mask = causal[None, None] & cache.valid[:, None, None, :end]
        h = x
        for c in range(self.cycles):
            if c:
                h = h + x                                        # input injection at each new cycle
            for i, block in enumerate(self.blocks):
                h = block(h, cos, sin, cache, c * len(self.blocks) + i, start, mask)
        return self.norm(h)
