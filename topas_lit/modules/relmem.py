"""RelMem: relational memory of learned relation prototypes over object-slot pairs."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from topas_lit.modules.layers import MLP


class RelMem(nn.Module):
    """Scores every ordered slot pair of a grid against R learned relation prototypes, giving a relation
    histogram per grid. The change of histogram from demo inputs to demo outputs, with the test input's,
    gives a context vector [B, d] and an op-bias tensor [B, n_ops]. All state is parameters.
    """

    def __init__(self, d_model: int, n_ops: int, n_relations: int = 32, d_relation: int = 64):
        super().__init__()
        self.pair = MLP(3 * d_model, 2 * d_relation, d_relation)
        self.prototypes = nn.Parameter(torch.randn(n_relations, d_relation) * d_relation ** -0.5)
        self.log_temp = nn.Parameter(torch.tensor(-2.0))
        self.context = MLP(3 * n_relations, 2 * d_model, d_model)
        self.op_head = nn.Linear(d_model, n_ops)

    def relations(self, slots: Tensor) -> Tensor:
        """slots [N, K, d] -> relation histogram [N, R] (mean over ordered pairs i != j)."""
        n, k, d = slots.shape
        a = slots[:, :, None, :].expand(n, k, k, d)
        b = slots[:, None, :, :].expand(n, k, k, d)
        r = F.normalize(self.pair(torch.cat([a, b, a * b], -1)), dim=-1)     # [N, K, K, dr]
        sim = r @ F.normalize(self.prototypes, dim=-1).T / self.log_temp.exp()
        off_diag = 1.0 - torch.eye(k, device=slots.device, dtype=sim.dtype)
        probs = sim.softmax(-1) * off_diag[None, :, :, None]
        return probs.sum((1, 2)) / off_diag.sum()

    def forward(self, slots_in: Tensor, slots_out: Tensor, slots_test: Tensor, demo_mask: Tensor):
        """slots_in/out [B, D, K, d], slots_test [B, K, d], demo_mask [B, D] -> (context [B, d], op_bias [B, n_ops])."""
        b, dd, k, d = slots_in.shape
        h_in = self.relations(slots_in.reshape(b * dd, k, d)).view(b, dd, -1)
        h_out = self.relations(slots_out.reshape(b * dd, k, d)).view(b, dd, -1)
        h_test = self.relations(slots_test)
        w = demo_mask.to(h_in.dtype).unsqueeze(-1)
        n = w.sum(1).clamp(min=1.0)
        delta = ((h_out - h_in) * w).sum(1) / n
        mean_in = (h_in * w).sum(1) / n
        context = self.context(torch.cat([delta, mean_in, h_test], -1))
        return context, self.op_head(context)
