"""RailCounts: per-rail answered / scored / correct counts as a torchmetrics Metric (summed across DDP ranks)."""
from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric

from topas_lit.modules.dsl.search import ANSWER_RAILS


class RailCounts(Metric):
    """``update(rail [B] long, correct [B] bool, scored [B] bool | None)``; ``compute()`` -> dict of [n_rails]:
    answered, scored, correct (counts), freq (answered / all answered) and acc (correct / scored).

    Updates are device ops only (comparisons and sums, no ``one_hot``/``bincount``), so they never sync.
    """

    full_state_update = False
    higher_is_better = None

    def __init__(self, n_rails: int = len(ANSWER_RAILS), **kwargs):
        super().__init__(**kwargs)
        self.n_rails = n_rails
        for name in ("answered", "scored", "correct"):
            self.add_state(name, torch.zeros(n_rails, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, rail: Tensor, correct: Tensor, scored: Tensor | None = None) -> None:
        codes = torch.arange(self.n_rails, device=rail.device)
        hit = (rail.reshape(-1, 1) == codes).long()                         # [B, n_rails]
        scored = torch.ones_like(correct, dtype=torch.bool) if scored is None else scored
        self.answered += hit.sum(0)
        self.scored += (hit * scored.reshape(-1, 1)).sum(0)
        self.correct += (hit * (correct & scored).reshape(-1, 1)).sum(0)

    def compute(self) -> dict[str, Tensor]:
        return {"answered": self.answered, "scored": self.scored, "correct": self.correct,
                "freq": self.answered / self.answered.sum().clamp(min=1),
                "acc": self.correct / self.scored.clamp(min=1)}
