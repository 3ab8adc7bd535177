"""The symbolic rails: HyLa one-glance, HyLa policy top-k, and warm-start beam search, all on the device.

Every rail proposes programs, executes them on all demo inputs and the test input of each task, and keeps the
verified ones (every demo output reproduced exactly). Ranking, dedupe (by outputs on all slots: semantics, not
syntax) and the choice of the winning rail are masks, sorts and argmaxes: no host reads, no Python branch on
tensor values. Same input, same rail, same program.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from topas_lit.modules.dsl.grid import S
from topas_lit.modules.dsl.program import (NEG, Fingerprinter, Slots, apply_all, dedupe, progress, ranked_programs,
                                           run_programs, take, top, verify)
from topas_lit.modules.dsl.registry import PRIMITIVES, GridBatch

SEARCH_RAILS = ("one_glance", "policy", "beam")
RAILS = SEARCH_RAILS + ("painter",)          # rail codes: index in this tuple
COMPOSE = "compose"                          # the v2 engine's answers overlaid from several searched states
NEAREST = "nearest"                          # the v2 engine's unverified guesses: searched states closest to the
                                             # demo outputs, answering only attempts no verified answer fills
ANSWER_RAILS = RAILS + (COMPOSE, NEAREST)    # every rail an answer record may name (telemetry, reports)
PAINTER = RAILS.index("painter")


@dataclass
class Answers:
    """Up to V verified answers per task, best first (all [B, V, ...])."""

    score: Tensor     # [B, V] (-inf = empty)
    program: Tensor   # [B, V, depth]
    cells: Tensor     # [B, V, 30, 30] test-slot output
    size: Tensor      # [B, V, 2]
    fp: Tensor        # [B, V] fingerprint of the test output
    rail: Tensor      # [B, V] rail code

    @classmethod
    def empty(cls, b: int, v: int, depth: int, device) -> "Answers":
        z = torch.zeros
        return cls(torch.full((b, v), NEG, device=device), z(b, v, depth, dtype=torch.long, device=device),
                   z(b, v, S, S, dtype=torch.long, device=device), torch.ones(b, v, 2, dtype=torch.long, device=device),
                   z(b, v, dtype=torch.long, device=device), torch.full((b, v), PAINTER, device=device))

    def merge(self, other: "Answers", v: int) -> "Answers":
        """Union, deduped by test output (best score kept), top-v."""
        cat = [torch.cat([a, o], 1) for a, o in zip(self.fields(), other.fields())]
        score = dedupe(cat[4], cat[0])
        s, idx = top(score, v)
        return Answers(s, *[take(x, idx) for x in cat[1:]])

    def fields(self):
        return self.score, self.program, self.cells, self.size, self.fp, self.rail


@dataclass
class RailResult:
    rail: Tensor            # [B] long: RAILS index of the first rail with a verified program, else PAINTER
    solved: Tensor          # [B] bool
    program: Tensor         # [B, depth] winning program (identity-padded)
    cells: Tensor           # [B, 30, 30] its test output
    size: Tensor            # [B, 2]
    second_ok: Tensor       # [B] bool: a second, distinct verified answer exists
    second_program: Tensor  # [B, depth]
    second_cells: Tensor    # [B, 30, 30]
    second_size: Tensor     # [B, 2]
    rail_solved: Tensor     # [B, len(SEARCH_RAILS)] bool: which rails found a verified program
    candidates: Tensor      # [B] long: candidate programs executed


class RailSearch(nn.Module):
    """Runs the search rails in ``order``; the first rail with a verified program answers.

    forward(inputs, step_logp [B, depth, n_ops], op_bias [B, n_ops]) -> RailResult
    """

    def __init__(self, order=SEARCH_RAILS, depth: int = 2, beam_width: int = 8, policy_topk: int = 16,
                 progress_weight: float = 2.0, answers_kept: int = 2):
        super().__init__()
        unknown = [r for r in order if r not in SEARCH_RAILS]
        if unknown:
            raise ValueError(f"unknown rail(s) {unknown} in rail.order; known rails: {SEARCH_RAILS}")
        if depth < 1 or beam_width < 1 or policy_topk < 1:
            raise ValueError(f"rail depth, beam_width and policy_topk must be >= 1, got {depth}, {beam_width}, {policy_topk}")
        self.order = tuple(order)
        self.depth, self.beam_width, self.policy_topk = depth, beam_width, policy_topk
        self.progress_weight, self.answers_kept = progress_weight, answers_kept
        self.prims = list(PRIMITIVES)
        self.fingerprint = Fingerprinter()

    @property
    def n_ops(self) -> int:
        return len(self.prims)

    # ---- rails -------------------------------------------------------------------------------------------
    def ranked_programs(self, step_score: Tensor, k: int) -> tuple[Tensor, Tensor]:
        """Exact top-k programs under per-step scores [B, depth, n_ops] -> (programs [B, k, depth], score [B, k])."""
        return ranked_programs(step_score, k)

    def policy_rail(self, step_score: Tensor, slots: Slots, k: int, rail: int) -> tuple[Answers, Tensor]:
        """Execute the policy's k best programs (k = 1: one-glance) and keep the verified ones, best first."""
        programs, score = self.ranked_programs(step_score, k)
        cells, size, ok = run_programs(self.prims, programs, slots)
        valid, solved = verify(cells, ok, slots)
        _, fp_test = self.fingerprint(cells, slots.exists)
        found = Answers(score.masked_fill(~solved, NEG), programs, cells[:, :, -1], size[:, :, -1], fp_test,
                        torch.full_like(fp_test, rail))
        empty = Answers.empty(score.shape[0], self.answers_kept, self.depth, score.device)
        return empty.merge(found, self.answers_kept), valid.sum(1)

    def beam(self, step_score: Tensor, slots: Slots, width: int, progress_weight: float,
             rail: int) -> tuple[Answers, Tensor]:
        """Beam search over programs: each depth expands every kept state by every op (one batched call per op)
        and keeps the ``width`` best distinct states by (policy log-prob + op bias) so far, plus
        ``progress_weight`` x closeness to the demo outputs. Verified states go to the answers.

        The search starts from the single root state, so depth t expands min(width, n_ops^t) states per task.
        """
        b, g = slots.has_target.shape
        dev = slots.cells.device
        cells, size = slots.cells[:, None], slots.size[:, None]                   # [B, 1, G, ...]: the root
        prog = torch.zeros(b, 1, self.depth, dtype=torch.long, device=dev)
        cum = torch.zeros(b, 1, device=dev)
        answers = Answers.empty(b, self.answers_kept, self.depth, dev)
        evaluated = torch.zeros(b, dtype=torch.long, device=dev)
        for t in range(self.depth):
            w_in = cells.shape[1]
            demos = slots.demo_targets(w_in)
            batch = GridBatch(cells.reshape(-1, S, S), size.reshape(-1, 2))
            w = min(width, w_in * self.n_ops)
            nxt_rank = torch.full((b, 0), NEG, device=dev)
            nxt_fp = torch.zeros(b, 0, dtype=torch.long, device=dev)
            nxt_cum, nxt_prog = nxt_rank, prog[:, :0]
            nxt_cells, nxt_size = cells[:, :0], size[:, :0]
            for op, prim in enumerate(self.prims):
                c, s, ok = apply_all(prim, cells, size, demos, batch)
                valid, solved = verify(c, ok, slots)
                live = valid & (cum > NEG)
                evaluated = evaluated + live.sum(1)
                p = prog.clone()
                p[:, :, t] = op
                new_cum = (cum + step_score[:, t, op, None]).masked_fill(~live, NEG)
                fp_state, fp_test = self.fingerprint(c, slots.exists)
                found = Answers(new_cum.masked_fill(~solved, NEG), p, c[:, :, -1], s[:, :, -1], fp_test,
                                torch.full_like(fp_test, rail))
                answers = answers.merge(found, self.answers_kept)
                if t == self.depth - 1:
                    continue                                                       # last depth: nothing to keep
                rank = new_cum.masked_fill(solved, NEG)
                if progress_weight:
                    rank = rank + progress_weight * progress(c, s, slots)
                all_rank = dedupe(torch.cat([nxt_fp, fp_state], 1), torch.cat([nxt_rank, rank], 1))
                nxt_rank, idx = top(all_rank, w)
                nxt_fp = take(torch.cat([nxt_fp, fp_state], 1), idx)
                nxt_cum = take(torch.cat([nxt_cum, new_cum], 1), idx)
                nxt_prog = take(torch.cat([nxt_prog, p], 1), idx)
                nxt_cells = take(torch.cat([nxt_cells, c], 1), idx)
                nxt_size = take(torch.cat([nxt_size, s], 1), idx)
            cells, size, prog = nxt_cells, nxt_size, nxt_prog
            cum = nxt_cum.masked_fill(nxt_rank == NEG, NEG)
        return answers, evaluated

    # ---- all rails ---------------------------------------------------------------------------------------
    def forward(self, inputs: dict[str, Tensor], step_logp: Tensor, op_bias: Tensor) -> RailResult:
        slots = Slots.from_inputs(inputs)
        b, dev = slots.cells.shape[0], slots.cells.device
        step_score = step_logp + op_bias[:, None, :]                               # [B, depth, n_ops]
        rail_answers, counts = [], []
        for name in self.order:
            code = SEARCH_RAILS.index(name)
            if name == "beam":
                ans, n = self.beam(step_score, slots, self.beam_width, self.progress_weight, code)
            else:
                ans, n = self.policy_rail(step_score, slots, 1 if name == "one_glance" else self.policy_topk, code)
            rail_answers.append(ans)
            counts.append(n)
        rail_solved = torch.zeros(b, len(SEARCH_RAILS), dtype=torch.bool, device=dev)
        for name, ans in zip(self.order, rail_answers):
            rail_solved[:, SEARCH_RAILS.index(name)] = ans.score[:, 0] > NEG
        # rank answers by rail order first, then score: offset each rail's scores by its position
        pool = Answers.empty(b, 2, self.depth, dev)
        for pos, ans in enumerate(rail_answers):
            shifted = Answers(ans.score - 1e6 * pos, *ans.fields()[1:])
            pool = pool.merge(shifted, 2)
        solved = pool.score[:, 0] > NEG
        second_ok = pool.score[:, 1] > NEG
        rail = torch.where(solved, pool.rail[:, 0], torch.full_like(pool.rail[:, 0], PAINTER))
        return RailResult(rail, solved, pool.program[:, 0], pool.cells[:, 0], pool.size[:, 0], second_ok,
                          pool.program[:, 1], pool.cells[:, 1], pool.size[:, 1], rail_solved,
                          torch.stack(counts, 1).sum(1) if counts else torch.zeros(b, dtype=torch.long, device=dev))
