"""TOPAS composition: GridEncoder -> ObjectSlots -> HRM core -> op bias -> DSL rails -> Painter -> EBR.

forward(inputs) -> TopasOutput(grid [B,30,30], size [B,2], logits [B,30,30,10], attempts [B,2,30,30], extras)

``inputs`` holds the demo pairs and the test input only (see ``topas_lit.data.tensors``): the forward never
receives a test output. Extras are tensors with autograd intact; the caller picks no_grad / enable_grad.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from topas_lit.modules.dream import DreamEngine
from topas_lit.modules.dsl.grid import N_COLOURS, S, inside, repad
from topas_lit.modules.dsl.search import PAINTER, RAILS
from topas_lit.modules.ebr import EBR
from topas_lit.modules.encoder import GridEncoder
from topas_lit.modules.hrm import HRMCore
from topas_lit.modules.hyla import HyLaPolicy
from topas_lit.modules.op_bias import SOURCES, Cortex, OpBiasMerge
from topas_lit.modules.painter import Painter
from topas_lit.modules.relmem import RelMem
from topas_lit.modules.slots import ObjectSlots
from topas_lit.search.rails import build_rails

MAX_DEMOS = 16  # demo-index embeddings; later demos share the last one
GRID_TYPES = 3  # demo input, demo output, test input


@dataclass
class TopasOutput:
    grid: Tensor                  # [B, 30, 30] answer (PAD outside size)
    size: Tensor                  # [B, 2]
    logits: Tensor                # [B, 30, 30, 10] painter logits (after EBR where applied)
    attempts: Tensor              # [B, 2, 30, 30] attempt 1 (= grid) and attempt 2
    extras: dict[str, Tensor] = field(default_factory=dict)


class TopasModel(nn.Module):
    def __init__(self, d_model: int, heads: int, encoder: dict, slots: dict, hrm: dict, relmem: dict,
                 dream: dict, painter: dict, ebr: dict, rails: dict, compile: str = "none"):
        """``compile``: how evaluation runs this forward (none | cudagraph | reduce-overhead, see capture.py)."""
        super().__init__()
        self.compile_mode = compile
        rails = dict(rails)
        self.search = build_rails(rails)          # rail.engine: v1 (RailSearch) or v2 (the level-wise engine)
        n_ops = self.search.n_ops
        self.painter_always = bool(rails["painter_always"])
        self.encoder = GridEncoder(d_model, heads=heads, **encoder)
        self.slots = ObjectSlots(d_model, **slots)
        self.type_emb = nn.Embedding(GRID_TYPES, d_model)
        self.demo_emb = nn.Embedding(MAX_DEMOS, d_model)
        self.side_emb = nn.Embedding(S, d_model)
        self.relmem = RelMem(d_model, n_ops, **relmem)
        self.hrm = HRMCore(d_model, heads=heads, **hrm)
        self.policy = HyLaPolicy(d_model, n_ops, rails["depth"])
        self.cortex = Cortex(d_model, n_ops)
        self.dream = DreamEngine(d_model, n_ops, len(RAILS), **dream)
        self.op_bias = OpBiasMerge(rails["op_bias"]["weights"], rails["op_bias"]["priority"])
        self.painter = Painter(d_model, heads=heads, **painter)
        self.ebr = EBR(d_model, **ebr)

    # ---- stages -------------------------------------------------------------------------------------------
    def grid_tokens(self, slot_vecs: Tensor, size: Tensor, kind: int, demo_index: Tensor | None) -> Tensor:
        """Slots [N, K, d] + a size token -> [N, K + 1, d] tagged with grid type and demo index."""
        size_tok = (self.side_emb(size[:, 0] - 1) + self.side_emb(size[:, 1] - 1))[:, None]
        tok = torch.cat([size_tok, slot_vecs], 1) + self.type_emb.weight[kind]
        return tok if demo_index is None else tok + self.demo_emb(demo_index)[:, None]

    def encode(self, inputs: dict[str, Tensor]) -> dict[str, Tensor]:
        """Shared encoder and slots over demo inputs, demo outputs and test inputs; HRM over all their tokens."""
        b, d_n = inputs["demo_mask"].shape
        cells = torch.cat([inputs["demo_in"].flatten(0, 1), inputs["demo_out"].flatten(0, 1), inputs["test_in"]])
        size = torch.cat([inputs["demo_in_size"].flatten(0, 1), inputs["demo_out_size"].flatten(0, 1),
                          inputs["test_in_size"]])
        feats, mask = self.encoder(cells, size)                                   # [N, 900, d], [N, 900]
        slot_vecs = self.slots(feats, mask)                                       # [N, K, d]
        k, d = slot_vecs.shape[1:]
        nd = b * d_n
        s_in, s_out, s_test = slot_vecs[:nd], slot_vecs[nd:2 * nd], slot_vecs[2 * nd:]
        demo_idx = torch.arange(d_n, device=cells.device).clamp(max=MAX_DEMOS - 1).repeat(b)
        t_in = self.grid_tokens(s_in, size[:nd], 0, demo_idx).view(b, d_n * (k + 1), d)
        t_out = self.grid_tokens(s_out, size[nd:2 * nd], 1, demo_idx).view(b, d_n * (k + 1), d)
        t_test = self.grid_tokens(s_test, size[2 * nd:], 2, None)
        context, relmem_bias = self.relmem(s_in.view(b, d_n, k, d), s_out.view(b, d_n, k, d), s_test,
                                           inputs["demo_mask"])
        tokens = torch.cat([t_in, t_out, t_test, context[:, None]], 1)
        demo_tok_mask = inputs["demo_mask"][:, :, None].expand(b, d_n, k + 1).reshape(b, -1)
        always = torch.ones(b, k + 2, dtype=torch.bool, device=tokens.device)
        token_mask = torch.cat([demo_tok_mask, demo_tok_mask, always], 1)
        z_high, latent = self.hrm(tokens, token_mask)
        return {"latent": latent, "tokens": z_high, "token_mask": token_mask, "test_feats": feats[2 * nd:],
                "slot_vecs": torch.cat([s_in.view(b, d_n, k, d), s_out.view(b, d_n, k, d), s_test[:, None]], 1),
                "relmem_bias": relmem_bias}

    def op_prior(self, latent: Tensor, relmem_bias: Tensor) -> dict[str, Tensor]:
        """Policy logits and every op-bias source, merged."""
        policy_logits = self.policy(latent)                                       # [B, depth, n_ops]
        step_logp = policy_logits.log_softmax(-1)
        hyla_bias = step_logp.mean(1)
        n_ops = policy_logits.shape[-1]
        entropy = -(step_logp.exp() * step_logp).sum(-1).mean(1)
        hyla_conf = 1.0 - entropy / math.log(n_ops)
        dream_bias, dream_conf, strategy = self.dream.retrieve(latent)
        biases = {"relmem": relmem_bias.log_softmax(-1), "dream": dream_bias, "hyla": hyla_bias,
                  "cortex": self.cortex(latent)}
        confidence = {"dream": dream_conf, "hyla": hyla_conf}
        merged, parts = self.op_bias(biases, confidence)
        return {"policy_logits": policy_logits, "step_logp": step_logp, "op_bias": merged, "op_bias_parts": parts,
                "strategy_logits": strategy}

    # ---- forward ------------------------------------------------------------------------------------------
    def forward(self, inputs: dict[str, Tensor], rails: bool = True) -> TopasOutput:
        enc = self.encode(inputs)
        prior = self.op_prior(enc["latent"], enc["relmem_bias"])
        b = enc["latent"].shape[0]
        dev = enc["latent"].device
        run_rails = rails and not self.painter_always
        if run_rails:
            with torch.no_grad():
                res = self.search(inputs, prior["step_logp"], prior["op_bias"])
            solved, rail = res.solved, res.rail
        else:
            res = None
            solved = torch.zeros(b, dtype=torch.bool, device=dev)
            rail = torch.full((b,), PAINTER, dtype=torch.long, device=dev)

        logits, size_logits = self.painter(enc["test_feats"], inputs["test_in"], enc["tokens"], enc["token_mask"],
                                           enc["latent"], inputs["test_in_size"])
        p_size = size_logits.argmax(-1) + 1                                       # [B, 2]
        ebr_applied = self.ebr.gate_mask(logits, inside(p_size)) & ~solved
        if self.ebr.gate == "never":     # the configured gate, not a tensor value: skip the refinement work
            energy = self.ebr.energy(enc["test_feats"], logits.softmax(-1), enc["latent"])
            final_logits = logits
        else:
            refined, energy = self.ebr.refine(logits, enc["test_feats"], enc["latent"], ebr_applied)
            final_logits = torch.where(ebr_applied[:, None, None, None], refined, logits)
        p_grid = repad(final_logits.argmax(-1), p_size)
        # painter's second attempt: its pre-EBR answer if EBR changed it, else the runner-up size
        raw_grid = repad(logits.argmax(-1), p_size)
        ebr_changed = ebr_applied & (raw_grid != p_grid).flatten(1).any(1)
        alt_size = self.runner_up_size(size_logits)
        p_second = torch.where(ebr_changed[:, None, None], raw_grid, repad(final_logits.argmax(-1), alt_size))
        p_second_size = torch.where(ebr_changed[:, None], p_size, alt_size)

        if res is not None:
            grid = torch.where(solved[:, None, None], res.cells, p_grid)
            size = torch.where(solved[:, None], res.size, p_size)
            use_second = solved & res.second_ok
            second = torch.where(use_second[:, None, None], res.second_cells,
                                 torch.where(solved[:, None, None], p_grid, p_second))
            second_size = torch.where(use_second[:, None], res.second_size,
                                      torch.where(solved[:, None], p_size, p_second_size))
            program, candidates, rail_solved = res.program, res.candidates, res.rail_solved
            second_verified = use_second
        else:
            grid, size, second, second_size = p_grid, p_size, p_second, p_second_size
            program = torch.zeros(b, self.search.depth, dtype=torch.long, device=dev)
            candidates = torch.zeros(b, dtype=torch.long, device=dev)
            rail_solved = torch.zeros(b, 3, dtype=torch.bool, device=dev)
            second_verified = solved

        # op distribution of the answering program (identity steps excluded): the dream token's value
        ops = torch.arange(self.search.n_ops, device=dev)
        op_count = ((program[..., None] == ops) & (program[..., None] > 0)).sum(1).to(enc["latent"].dtype)
        op_dist = op_count / op_count.sum(-1, keepdim=True).clamp(min=1.0)
        extras = {
            **enc, **prior,
            "size_logits": size_logits, "painter_grid": p_grid, "painter_size": p_size,
            "rail": rail, "solved": solved, "program": program, "rail_solved": rail_solved, "candidates": candidates,
            "second_verified": second_verified,
            "ebr_applied": ebr_applied, "ebr_changed": ebr_changed, "energy": energy,
            "attempt_size": torch.stack([size, second_size], 1),
            "dream_tokens": torch.cat([enc["latent"], op_dist], -1), "dream_valid": solved,
        }
        return TopasOutput(grid, size, final_logits, torch.stack([grid, second], 1), extras)

    @staticmethod
    def runner_up_size(size_logits: Tensor) -> Tensor:
        """The second most likely (h, w): change whichever side has the smaller margin to its runner-up."""
        top2 = size_logits.topk(2, -1)                                            # values/indices [B, 2, 2]
        margin = top2.values[..., 0] - top2.values[..., 1]                        # [B, 2]
        change_h = margin[:, 0] <= margin[:, 1]
        best, second = top2.indices[..., 0] + 1, top2.indices[..., 1] + 1
        h = torch.where(change_h, second[:, 0], best[:, 0])
        w = torch.where(change_h, best[:, 1], second[:, 1])
        return torch.stack([h, w], -1)


__all__ = ["TopasModel", "TopasOutput", "RAILS", "PAINTER", "SOURCES", "N_COLOURS"]
