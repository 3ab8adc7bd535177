"""EBR: an energy network over candidate outputs, and refinement of the painter's logits by gradient steps."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from topas_lit.modules.dsl.grid import N_COLOURS, S
from topas_lit.modules.encoder import ConvBlock
from topas_lit.modules.layers import MLP

GATES = ("always", "never", "entropy")


class EBR(nn.Module):
    """E(test input features, candidate probabilities, task latent) -> energy [B]; low = plausible.

    ``refine`` takes K steps of gradient descent on the candidate logits under ``torch.enable_grad()``.
    Items whose answer stops changing under steps smaller than ``tolerance`` (converged) or flips back to the answer of two steps before
    (oscillating) are frozen with device-side masks. ``gate`` picks the items refined: always / never /
    entropy (mean cell entropy of the candidate below ``entropy_threshold``).
    """

    def __init__(self, d_model: int, layers: int = 1, steps: int = 4, step_size: float = 1.0,
                 gate: str = "entropy", entropy_threshold: float = 0.5, tolerance: float = 1e-3):
        super().__init__()
        self.cand = nn.Linear(N_COLOURS, d_model)
        self.cond = nn.Linear(d_model, d_model)
        self.convs = nn.ModuleList(ConvBlock(d_model) for _ in range(layers))
        self.out = MLP(d_model, d_model, 1, out_bias=False)  # energy is defined up to a constant
        self.steps, self.step_size = steps, step_size
        self.entropy_threshold, self.tolerance = entropy_threshold, tolerance
        self.set_gate(gate)

    def set_gate(self, gate: str) -> None:
        if gate not in GATES:
            raise ValueError(f"EBR gate must be one of {GATES}, got {gate!r}")
        self.gate = gate

    def energy(self, test_feats: Tensor, probs: Tensor, latent: Tensor) -> Tensor:
        """test_feats [B, 900, d], probs [B, 30, 30, 10], latent [B, d] -> energy [B]."""
        b, _, d = test_feats.shape
        x = test_feats + self.cand(probs.reshape(b, S * S, N_COLOURS)) + self.cond(latent)[:, None, :]
        x = x.transpose(1, 2).reshape(b, d, S, S)
        for conv in self.convs:
            x = conv(x)
        return self.out(x.mean((2, 3))).squeeze(-1)

    def gate_mask(self, logits: Tensor, inside: Tensor) -> Tensor:
        """[B] bool: which items the gate sends to refinement. inside [B, 30, 30] = predicted output cells."""
        b = logits.shape[0]
        if self.gate == "always":
            return torch.ones(b, dtype=torch.bool, device=logits.device)
        if self.gate == "never":
            return torch.zeros(b, dtype=torch.bool, device=logits.device)
        p = logits.softmax(-1)
        ent = -(p * p.clamp(min=1e-9).log()).sum(-1)                                  # [B, 30, 30]
        keep = inside.to(ent.dtype)
        mean_ent = (ent * keep).sum((1, 2)) / keep.sum((1, 2)).clamp(min=1.0)
        return mean_ent < self.entropy_threshold

    def refine(self, logits: Tensor, test_feats: Tensor, latent: Tensor, apply: Tensor) -> tuple[Tensor, Tensor]:
        """-> (refined logits, energy [B] of the result). Items with ``apply`` False are returned unchanged."""
        with torch.enable_grad():
            z = logits if logits.requires_grad else logits.clone().requires_grad_(True)
            frozen = ~apply
            prev = prev2 = z.argmax(-1)
            for _ in range(self.steps):
                e = self.energy(test_feats, z.softmax(-1), latent)
                (grad,) = torch.autograd.grad(e.sum(), z)
                step = self.step_size * grad
                z = torch.where(frozen[:, None, None, None], z, z - step)
                cur = z.argmax(-1)
                converged = (cur == prev).flatten(1).all(1) & (step.abs().flatten(1).amax(1) < self.tolerance)
                oscillating = (cur == prev2).flatten(1).all(1) & ~converged
                frozen = frozen | converged | oscillating
                prev2, prev = prev, cur
            energy = self.energy(test_feats, z.softmax(-1), latent)
        return z, energy
