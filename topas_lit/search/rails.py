"""The v2 engine behind the model's rails interface: ``EngineRails(inputs, step_logp, op_bias) -> RailResult``, a
drop-in for ``RailSearch`` inside ``TopasModel.forward`` (``rail.engine: v2``), so the forward, voting, rail
telemetry and the sync-free guards run on the level-wise engine unchanged. Items are the model's (one test
input each, on the 30 x 30 canvas, already on the device): no packing on the host, no host read.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from topas_lit.modules.dsl.search import PAINTER, SEARCH_RAILS, RailResult, RailSearch
from topas_lit.search.engine import SearchEngine
from topas_lit.search.hashing import NEG
from topas_lit.search.pack import from_inputs

ENGINES = ("v1", "v2")


class EngineRails(nn.Module):
    def __init__(self, order, depth: int, beam_width: int, policy_topk: int, progress_weight: float,
                 answers_kept: int = 4, chunk_cells: int = 2**19):
        super().__init__()
        self.engine = SearchEngine(depth, beam_width, policy_topk, tuple(order), progress_weight, answers_kept,
                                   chunk_cells)
        self.depth, self.beam_width, self.policy_topk = depth, beam_width, policy_topk

    @property
    def n_ops(self) -> int:
        return self.engine.n_ops

    def forward(self, inputs: dict[str, Tensor], step_logp: Tensor, op_bias: Tensor) -> RailResult:
        res = self.engine(from_inputs(inputs), step_logp + op_bias[:, None, :])
        solved, second = res.score[:, 0] > NEG, res.score[:, 1] > NEG       # answers are distinct test outputs
        rail = torch.where(solved, res.rail[:, 0], torch.full_like(res.rail[:, 0], PAINTER))
        cells = res.cells[:, :, 0].long()                                        # [B, A, 30, 30], one test slot
        size = res.size[:, :, 0]
        return RailResult(rail, solved, res.program[:, 0], cells[:, 0], size[:, 0], second, res.program[:, 1],
                          cells[:, 1], size[:, 1], res.rail_solved[:, :len(SEARCH_RAILS)], res.candidates)


def build_rails(rails: dict) -> nn.Module:
    """The model's search rails from the rail config: ``engine`` v1 (RailSearch, the default) or v2."""
    engine = rails.get("engine", "v1")
    if engine not in ENGINES:
        raise ValueError(f"rail.engine must be one of {ENGINES}, got {engine!r}")
    common = dict(order=rails["order"], depth=rails["depth"], beam_width=rails["beam_width"],
                  policy_topk=rails["policy_topk"], progress_weight=rails["progress_weight"])
    if engine == "v1":
        return RailSearch(**common)
    return EngineRails(**common, answers_kept=rails.get("answers_kept", 4), chunk_cells=rails.get("chunk_cells", 2**19))
