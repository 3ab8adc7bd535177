"""Op bias: the Cortex prior, and the weighted, prioritised merge of all op-bias sources.

Each source gives a bias [B, n_ops] (log-space, zero = no opinion) and a confidence [B] in [0, 1]. The merge
weighs each source by its configured weight and confidence, and lets confident higher-priority sources take
precedence: a source's share is multiplied by (1 - confidence) of every source of strictly higher priority.
Sources that do not exist (not built, or empty memory) contribute zero. Every contribution is returned so a
user can see which source steered.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

SOURCES = ("relmem", "dream", "hyla", "cortex")


class Cortex(nn.Module):
    """A learned prior over ops from the task latent: forward(latent [B, d]) -> bias [B, n_ops]."""

    def __init__(self, d_model: int, n_ops: int):
        super().__init__()
        self.head = nn.Linear(d_model, n_ops)

    def forward(self, latent: Tensor) -> Tensor:
        return self.head(latent).log_softmax(-1)


class OpBiasMerge(nn.Module):
    """merged = sum_s w_s * c_s * prod_{t: prio_t > prio_s, w_t > 0} (1 - c_t) * centred(b_s)."""

    def __init__(self, weights: dict[str, float], priority: dict[str, int]):
        super().__init__()
        unknown = (set(weights) | set(priority)) - set(SOURCES)
        if unknown:
            raise ValueError(f"unknown op-bias source(s) {sorted(unknown)}; known: {SOURCES}")
        self.register_buffer("weights", torch.tensor([float(weights.get(s, 0.0)) for s in SOURCES]),
                             persistent=False)
        prio = torch.tensor([float(priority.get(s, 0)) for s in SOURCES])
        # outranks[s, t] = 1 where source t has strictly higher priority than s
        self.register_buffer("outranks", torch.where(prio[None, :] > prio[:, None], 1.0, 0.0), persistent=False)

    def forward(self, biases: dict[str, Tensor], confidence: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """-> (merged [B, n_ops], parts [B, S, n_ops]) in SOURCES order."""
        ref = next(iter(biases.values()))
        b = ref.shape[0]
        zeros = torch.zeros_like(ref)
        ones = torch.ones(b, device=ref.device, dtype=ref.dtype)
        bias = torch.stack([biases.get(s, zeros) for s in SOURCES], 1)                      # [B, S, n_ops]
        bias = bias - bias.mean(-1, keepdim=True)
        conf = torch.stack([confidence.get(s, ones) if s in biases else 0 * ones for s in SOURCES], 1)  # [B, S]
        # precedence: multiply by (1 - c_t) for each higher-priority source t that contributes (weight > 0: a
        # source switched off by its weight takes no precedence either)
        live = conf * (self.weights > 0).to(conf.dtype)
        yield_to = torch.exp((torch.log1p(-live.clamp(max=1 - 1e-6))[:, None, :] * self.outranks).sum(-1))
        scale = self.weights.to(bias.dtype) * conf * yield_to                              # [B, S]
        parts = bias * scale[..., None]
        return parts.sum(1), parts
