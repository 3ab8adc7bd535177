"""DreamEngine: an episodic memory of dream tokens (task latent -> op distribution of the solving program).

The memory is preallocated registered buffers, so it follows ``.to(device)`` and goes into checkpoints.
Retrieval is attention over stored keys; writes are ring-buffer scatters on the device (no host reads).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from topas_lit.modules.layers import MLP


class DreamEngine(nn.Module):
    def __init__(self, d_model: int, n_ops: int, n_rails: int, capacity: int = 1024, d_key: int = 64):
        super().__init__()
        self.capacity = capacity
        self.key_proj = nn.Linear(d_model, d_key)
        self.log_temp = nn.Parameter(torch.tensor(-2.5))
        self.strategy = MLP(d_model + n_ops, 2 * d_model, n_rails)
        # memory: one extra row at the end absorbs masked-out writes (never read)
        self.register_buffer("keys", torch.zeros(capacity + 1, d_model))
        self.register_buffer("values", torch.zeros(capacity + 1, n_ops))
        self.register_buffer("filled", torch.zeros(capacity + 1, dtype=torch.bool))
        self.register_buffer("cursor", torch.zeros((), dtype=torch.long))

    def retrieve(self, latent: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """latent [B, d] -> (op bias [B, n_ops] as log-probs, confidence [B], strategy logits [B, n_rails])."""
        mem = self.keys[: self.capacity]
        filled = self.filled[: self.capacity]
        q = F.normalize(self.key_proj(latent), dim=-1)
        k = F.normalize(self.key_proj(mem), dim=-1)
        scores = (q @ k.T) / self.log_temp.exp()                              # [B, M]
        scores = scores.masked_fill(~filled, float("-inf"))
        any_filled = filled.any()
        attn = torch.where(any_filled, scores.softmax(-1).nan_to_num(0.0), torch.zeros_like(scores))
        ops = attn @ self.values[: self.capacity]                             # [B, n_ops], sums to 1 when filled
        bias = torch.log(ops + 1e-3) - math.log(1e-3)                       # 0 where memory has no opinion
        best = (q @ k.T).masked_fill(~filled, -1.0).amax(-1).clamp(min=0.0)   # cosine of the nearest memory
        confidence = torch.where(any_filled, best, torch.zeros_like(best))
        strategy = self.strategy(torch.cat([latent, ops], -1))
        return bias, confidence, strategy

    @torch.no_grad()
    def write(self, keys: Tensor, values: Tensor, valid: Tensor) -> None:
        """Append the rows with ``valid`` (keys [B, d], values [B, n_ops]) to the ring buffer, on the device."""
        order = valid.long().cumsum(0) - 1                                    # position among valid rows
        slot = (self.cursor + order) % self.capacity
        slot = torch.where(valid, slot, torch.full_like(slot, self.capacity))  # invalid rows -> scratch row
        self.keys.index_copy_(0, slot, keys.to(self.keys.dtype))
        self.values.index_copy_(0, slot, values.to(self.values.dtype))
        self.filled.index_fill_(0, slot, True)
        self.filled[self.capacity] = False
        self.cursor.add_(valid.long().sum()).remainder_(self.capacity)

    def size(self) -> Tensor:
        return self.filled[: self.capacity].sum()
