"""The level-wise search engine: enumerate programs depth by depth on the device, over many tasks at once.

At each depth every kept state of every task is expanded by every op (one batched call per primitive over all
T tasks x K states x G slots, ``expand.py``). Then, on the device and without host reads:

- verify: a child whose grids equal the demo outputs on every demo slot is a verified program; its test-slot
  grids are answers;
- hash: each child's fingerprint covers its grids on every demo input and test input (``hashing.py``);
- dedupe: children equal to a better child or to any state kept before (the root included) are dropped, so
  the beam holds distinct semantics, not distinct syntax;
- keep: the top W children by score (prior log-probability so far + ``progress_weight`` x closeness to the demo
  outputs) become the next depth's states.

The rails read their programs out of this one expansion. Under the op prior (step log-probabilities + op bias,
uniform when no model gives one) the exact top-``policy_topk`` programs are ranked first; the prefixes of those
programs always stay in the kept set (reserved slots besides the ``beam_width`` beam slots), so every policy
program is executed by the expansion itself. A verified child is labelled ``one_glance`` when its program is the
prior's top-1 program, ``policy`` when it is one of the top-k, else ``beam``; answers rank by the rail order
first, then by program log-probability. After them come the compose rail's overlays (``compose_pieces``) and, with
``guesses``, the unverified guesses (rail ``nearest``): the kept pieces (states with the demo outputs' sizes) closest
to the demo outputs, which fill only the answer slots no verified answer takes. Same input, same answer: every choice
is a stable sort or an argmax.

States are expanded in chunks of about ``chunk_cells`` input cells (T tasks x states x G slots x s x s; static shapes,
a Python loop over chunks), and the kept states and answers are merged after each chunk, so memory stays near
``chunk_cells`` x ops bytes of children whatever the beam.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from topas_lit.modules.dsl import PRIMITIVES
from topas_lit.modules.dsl.grid import PAD
from topas_lit.modules.dsl.program import ranked_programs, take, top
from topas_lit.modules.dsl.search import COMPOSE, NEAREST, SEARCH_RAILS
from topas_lit.search.compose import Pieces, compose, piece_key, piece_score
from topas_lit.search.expand import expand
from topas_lit.search.hashing import NEG, Hasher, count_cells, dedupe, words
from topas_lit.search.pack import Packed

POLICY_BONUS = 1e4   # rank bonus of policy-program prefixes (they always stay in the kept set)
RAIL_STEP = 1e6      # answer keys: rail order outranks any log-probability
CLOSENESS_BLOCK = (2**22, 2**28)   # cells per equality pass of the closeness (CPU, CUDA)
ENGINE_RAILS = SEARCH_RAILS + (COMPOSE, NEAREST)   # the engine's rail codes: index in this tuple (rank order)


@dataclass
class SearchResult:
    """Per task: up to A verified answers, best first (-inf score = empty); all on the device."""

    score: Tensor       # [T, A] answer key (rail order, then program log-probability)
    parts: Tensor       # [T, A, K, depth] op ids of the answer's programs (K = 1, or compose_steps when composition
                        # is on: a composed answer's pieces in overlay order), identity (0) padded at the end
    n_parts: Tensor     # [T, A] long: programs the answer overlays (1 for every rail but compose)
    rail: Tensor        # [T, A] rail code (index in ENGINE_RAILS)
    cells: Tensor       # [T, A, Q, s, s] uint8 test-slot grids
    size: Tensor        # [T, A, Q, 2]
    candidates: Tensor  # [T] long: child states evaluated (each (state, op) pair once)
    rail_solved: Tensor  # [T, len(ENGINE_RAILS)] bool: which rails found an answer

    @property
    def solved(self) -> Tensor:
        return self.score[:, 0] > NEG

    @property
    def program(self) -> Tensor:
        """[T, A, depth]: each answer's (first) program."""
        return self.parts[:, :, 0]


@dataclass
class Beam:
    """K kept states per task."""

    rank: Tensor     # [T, K] (-inf = empty slot)
    fp: Tensor       # [T, K] int64 fingerprint over all real slots
    cells: Tensor    # [T, K, G, s, s] uint8
    size: Tensor     # [T, K, G, 2]
    program: Tensor  # [T, K, depth]
    logp: Tensor     # [T, K] prior log-probability of the program so far
    policy: Tensor   # [T, K, k] bool: the state's program is a prefix of policy program j

    def fields(self):
        return self.rank, self.fp, self.cells, self.size, self.program, self.logp, self.policy

    def select(self, rank: Tensor, idx: Tensor) -> "Beam":
        return Beam(rank, *[take(x, idx) for x in self.fields()[1:]])

    def cat(self, other: "Beam") -> "Beam":
        return Beam(*[torch.cat([a, b], 1) for a, b in zip(self.fields(), other.fields())])


@dataclass
class Found:
    """Up to A answers per task (see SearchResult), plus the fingerprint of their test-slot grids."""

    score: Tensor
    fp: Tensor
    parts: Tensor     # [T, A, K, depth]
    n_parts: Tensor   # [T, A]
    rail: Tensor
    cells: Tensor
    size: Tensor

    def fields(self):
        return self.score, self.fp, self.parts, self.n_parts, self.rail, self.cells, self.size

    def select(self, score: Tensor, idx: Tensor) -> "Found":
        return Found(score, *[take(x, idx) for x in self.fields()[1:]])

    def merge(self, other: "Found", a: int) -> "Found":
        k = self.parts.shape[2] - other.parts.shape[2]            # a chunk's answers have one part each
        theirs = list(other.fields())
        theirs[2] = F.pad(other.parts, (0, 0, 0, k)) if k else other.parts
        cat = [torch.cat([x, y], 1) for x, y in zip(self.fields(), theirs)]
        score, idx = top(dedupe(cat[1], cat[0]), a)
        return Found(score, *[take(x, idx) for x in cat[1:]])


def matches_demos(cells: Tensor, packed: Packed) -> Tensor:
    """[T, C] bool: states ``cells [T, C, G, s, s]`` equal the demo output on every demo slot (compared 4 cells
    at a time; PAD outside the grids, so equal cells mean equal sizes)."""
    slot_match = (words(cells) == words(packed.target)[:, None]).all(-1)            # [T, C, G]
    return (slot_match | ~packed.has_target[:, None]).all(-1)


def canonical(programs: Tensor) -> Tensor:
    """Identity steps (op 0) moved to the end, the other ops kept in order: the form the expansion enumerates."""
    order = (programs == 0).long().argsort(dim=-1, stable=True)
    return programs.gather(-1, order)


class SearchEngine(nn.Module):
    """forward(packed, step_score [T, depth, n_ops] or None) -> SearchResult (no host reads inside)."""

    def __init__(self, depth: int = 2, beam_width: int = 8, policy_topk: int = 16, order=SEARCH_RAILS,
                 progress_weight: float = 2.0, answers_kept: int = 4, chunk_cells: int = 2**19,
                 compose_pieces: int = 0, compose_steps: int = 3, guesses: int = 0):
        super().__init__()
        unknown = [r for r in order if r not in SEARCH_RAILS]
        if unknown:
            raise ValueError(f"unknown rail(s) {unknown} in rail.order; known rails: {SEARCH_RAILS}")
        if depth < 1 or beam_width < 1 or policy_topk < 1 or answers_kept < 1 or chunk_cells < 1:
            raise ValueError(f"rail depth, beam_width, policy_topk, answers_kept and chunk_cells must be >= 1, got "
                             f"{depth}, {beam_width}, {policy_topk}, {answers_kept}, {chunk_cells}")
        if compose_pieces < 0 or compose_steps < 2 or guesses < 0:
            raise ValueError(f"rail.compose_pieces must be >= 0 (0: off), rail.compose_steps >= 2 and rail.guesses "
                             f">= 0 (0: off), got {compose_pieces}, {compose_steps}, {guesses}")
        self.config = dict(depth=depth, beam_width=beam_width, policy_topk=policy_topk, order=tuple(order),
                           progress_weight=progress_weight, answers_kept=answers_kept, chunk_cells=chunk_cells,
                           compose_pieces=compose_pieces, compose_steps=compose_steps, guesses=guesses)
        self.compose_pieces, self.compose_steps, self.guesses = compose_pieces, compose_steps, guesses
        self.pool = max(compose_pieces, guesses)     # pieces kept per task (the compose rail's and the guesses')
        self.order = tuple(order)
        self.depth, self.beam_width, self.policy_topk = depth, beam_width, policy_topk
        self.progress_weight, self.answers_kept, self.chunk_cells = progress_weight, answers_kept, chunk_cells
        self.prims = list(PRIMITIVES)
        self.ops = [i for i, p in enumerate(self.prims) if p.name != "identity"]   # identity is the padding
        self.register_buffer("op_ids", torch.tensor(self.ops), persistent=False)
        rail_pos = [self.order.index(r) if r in self.order else len(SEARCH_RAILS) for r in SEARCH_RAILS]
        self.register_buffer("rail_pos", torch.tensor(rail_pos, dtype=torch.float32), persistent=False)
        self.hasher = Hasher()

    @property
    def n_ops(self) -> int:
        return len(self.prims)

    @property
    def k_policy(self) -> int:
        """Policy programs whose prefixes the kept set reserves."""
        return self.policy_topk if "policy" in self.order else 1 if "one_glance" in self.order else 0

    @property
    def width(self) -> int:
        return (self.beam_width if "beam" in self.order else 0) + self.k_policy

    def uniform(self, tasks: int, device) -> Tensor:
        return torch.full((tasks, self.depth, self.n_ops), -math.log(self.n_ops), device=device)

    # ---- one chunk of children ------------------------------------------------------------------------------
    def expand_chunk(self, beam: Beam, lo: int, hi: int, t: int, packed: Packed, pol_prog: Tensor, pol_done: Tensor,
                 tail: Tensor, step_score: Tensor):
        """Expand kept states lo..hi at depth t. -> (child beam entries [T, C] or None at the last depth, answer
        entries [T, C], live count, piece entries [T, C] or None when composition is off)."""
        last = t == self.depth - 1
        tn, g, s = packed.tasks, packed.slots, packed.side
        cells, size, ok = expand([self.prims[i] for i in self.ops], beam.cells[:, lo:hi], beam.size[:, lo:hi], packed)
        k, p = cells.shape[1], cells.shape[2]
        c = k * p
        cells, size, ok = cells.view(tn, c, g, s, s), size.view(tn, c, g, 2), ok.view(tn, c, g)
        parent = lambda x: x[:, lo:hi, None].expand(tn, k, p, *x.shape[2:]).reshape(tn, c, *x.shape[2:])  # noqa
        live_parent = parent(beam.rank) > NEG
        alive = live_parent & (ok | ~packed.exists[:, None]).all(-1)
        ops = self.op_ids.repeat(k)                                               # [C] op of each child
        program = parent(beam.program).clone()
        program[:, :, t] = ops
        logp = parent(beam.logp) + step_score[:, t, ops]
        verified = alive & matches_demos(cells, packed)
        pieces_on = self.pool > 0
        q0 = 0 if not last else packed.n_demo                       # the last depth hashes the test slots only
        per_slot = self.hasher.per_slot(cells[:, :, q0:], first_slot=q0)           # [T, C, G - q0]
        fp_test = self.hasher.combine(per_slot, packed.is_test[:, None, q0:])
        # rails
        pol = parent(beam.policy) & (pol_prog[:, None, :, t] == ops[None, :, None])  # [T, C, k]
        done = pol & pol_done[:, None, :, t]
        glance = done[..., 0] if "one_glance" in self.order and done.shape[-1] else torch.zeros_like(verified)
        policy = done.any(-1) if "policy" in self.order else torch.zeros_like(verified)
        rail = torch.where(glance, 0, torch.where(policy, 1, 2))
        answer_ok = verified & (self.rail_pos[rail] < len(SEARCH_RAILS))
        key = (logp + tail[:, t, None] - RAIL_STEP * self.rail_pos[rail]).masked_fill(~answer_ok, NEG)
        found = Found(key, fp_test, program[:, :, None], torch.ones_like(rail), rail, cells[:, :, packed.n_demo:],
                      size[:, :, packed.n_demo:])
        close = None
        if pieces_on or (self.progress_weight and not last):
            close = self.progress(cells, size, packed)
        pieces = None
        if pieces_on:
            score = piece_score(close, size, alive, packed)
            pieces = Pieces(score, piece_key(fp_test, score), cells, size, program)
        if last:                                                    # nothing is kept after the last depth
            return None, found, live_parent.sum(1), pieces
        fp = self.hasher.combine(per_slot, packed.exists[:, None])
        rank = logp + POLICY_BONUS * pol.any(-1)
        if self.progress_weight:
            rank = rank + self.progress_weight * close
        beam_rank = rank.masked_fill(~alive | verified, NEG)
        if "beam" not in self.order:
            beam_rank = beam_rank.masked_fill(~pol.any(-1), NEG)
        kids = Beam(beam_rank, fp, cells, size, program, logp, pol)
        return kids, found, live_parent.sum(1), pieces

    @staticmethod
    def progress(cells: Tensor, size: Tensor, packed: Packed) -> Tensor:
        """Closeness of states ``cells [T, C, G, s, s]`` to the demo outputs in [0, 2]: size-match rate + cell
        accuracy where sizes match. (A credit for sizes an integer ratio away from the output's was tried: 123 vs
        125 of 320 development tasks, dropped.)"""
        has = packed.has_target[:, None].to(torch.float32)                         # [T, 1, G]
        same = (size == packed.target_size[:, None]).all(-1).to(torch.float32)     # [T, C, G]
        inside = packed.target != PAD                                              # [T, G, s, s]
        target = packed.target.masked_fill(~inside, 255)[:, None]                  # no cell equals 255
        # counted 4 cells at a time (a bool sum is several times slower), over blocks of states: the equality
        # mask of a whole chunk is as large as its children (GBs on the GPU; page faults on the CPU)
        t, c, g, s = cells.shape[:4]
        n = max(1, CLOSENESS_BLOCK[cells.device.type == "cuda"] // (t * g * s * s))
        agree = torch.cat([count_cells(cells[:, lo:lo + n] == target) for lo in range(0, c, n)], 1)
        agree = agree / count_cells(inside).clamp(min=1)[:, None]
        per_slot = (same + same * agree) * has
        total = per_slot[..., 0]
        for k in range(1, g):        # slot by slot: the same sum whatever the call's padding (a GPU reduction over
            total = total + per_slot[..., k]   # G slots associates differently for another G)
        return total / has.sum(-1).clamp(min=1.0)

    # ---- the search ---------------------------------------------------------------------------------------
    @torch.no_grad()
    def forward(self, packed: Packed, step_score: Tensor | None = None) -> SearchResult:
        tn, g, dev = packed.tasks, packed.slots, packed.cells.device
        depth, a = self.depth, self.answers_kept
        if step_score is None:
            step_score = self.uniform(tn, dev)
        step_score = step_score.float()
        kp = self.k_policy
        if kp:
            pol_prog, _ = ranked_programs(step_score, kp)
            pol_prog = canonical(pol_prog)                                       # [T, k, depth]
            ends = torch.cat([(pol_prog != 0).long().flip(-1).cummax(-1).values.flip(-1)[..., 1:],
                              torch.zeros_like(pol_prog[..., :1])], -1) == 0
            pol_done = ends                                                      # [T, k, depth]: complete after step t
        else:
            pol_prog = torch.zeros(tn, 0, depth, dtype=torch.long, device=dev)
            pol_done = torch.zeros(tn, 0, depth, dtype=torch.bool, device=dev)
        # log-probability of finishing a program after step t with identity steps
        ident = step_score[:, :, 0]
        tail = ident.flip(1).cumsum(1).flip(1) - ident                           # [T, depth]: sum over u > t
        root = Beam(torch.zeros(tn, 1, device=dev), self.hasher(packed.cells[:, None], packed.exists[:, None]),
                    packed.cells[:, None], packed.size[:, None], torch.zeros(tn, 1, depth, dtype=torch.long, device=dev),
                    torch.zeros(tn, 1, device=dev), torch.ones(tn, 1, kp, dtype=torch.bool, device=dev))
        seen = root.fp
        beam = root
        found = self.empty_found(tn, a, packed)
        pieces = None
        if self.pool:
            close = self.progress(packed.cells[:, None], packed.size[:, None], packed)
            score = piece_score(close, root.size, torch.ones_like(root.rank, dtype=torch.bool), packed)
            test_fp = self.test_fp(packed.cells[:, None, packed.n_demo:], packed)
            pieces = Pieces(score, piece_key(test_fp, score), root.cells, root.size, root.program)
        candidates = torch.zeros(tn, dtype=torch.long, device=dev)
        per_chunk = max(1, self.chunk_cells // (tn * g * packed.side ** 2))       # states per expansion call
        for t in range(depth):
            last = t == depth - 1
            kept = None
            for lo in range(0, beam.rank.shape[1], per_chunk):
                hi = min(lo + per_chunk, beam.rank.shape[1])
                kids, chunk_found, live, chunk_pieces = self.expand_chunk(beam, lo, hi, t, packed, pol_prog, pol_done,
                                                                          tail, step_score)
                candidates += live
                if pieces is not None:
                    pieces = pieces.merge(chunk_pieces.best(self.pool), self.pool)
                key, idx = top(dedupe(chunk_found.fp, chunk_found.score), a)
                found = found.merge(chunk_found.select(key, idx), a)
                if last:
                    continue
                r, idx = top(dedupe(kids.fp, kids.rank, seen), self.width)    # best of the chunk first
                kids = kids.select(r, idx)
                kept = kids if kept is None else self.keep(kept.cat(kids))
            if not last:
                beam = kept
                seen = torch.cat([seen, torch.where(beam.rank > NEG, beam.fp, seen[:, :1])], 1)
        if self.compose_pieces:
            found = found.merge(self.composed(pieces, packed), a)
        if self.guesses:
            found = found.merge(self.nearest(pieces, packed, found), a)
        rail_solved = torch.stack([((found.rail == i) & (found.score > NEG)).any(1)
                                   for i in range(len(ENGINE_RAILS))], 1)
        return SearchResult(found.score, found.parts, found.n_parts, found.rail, found.cells, found.size, candidates,
                            rail_solved)

    def composed(self, pieces: Pieces, packed: Packed) -> Found:
        """The greedy composition of each task's pieces as one answer entry per task, ranked after every rail's
        programs (fewer pieces first)."""
        ok, used, cells, size, parts = compose(pieces, packed, self.compose_steps)
        key = (-RAIL_STEP * ENGINE_RAILS.index(COMPOSE) - used.float()).masked_fill(~ok, NEG)
        fp = self.test_fp(cells, packed)
        rail = torch.full_like(used, ENGINE_RAILS.index(COMPOSE))
        return Found(key[:, None], fp[:, None], parts[:, None], used[:, None], rail[:, None], cells[:, None],
                     size[:, None])

    def nearest(self, pieces: Pieces, packed: Packed, found: Found) -> Found:
        """Unverified guesses: the ``guesses`` pieces closest to the demo outputs among those no demo check verified
        (closeness below 2), ranked after every other rail (closest first). Each is a new test answer: its test
        grids (fingerprinted) are not the test inputs unchanged (the task's own grids never change them), not an
        answer already ``found``, and not a closer piece's (pieces are distinct over all slots, so two may share
        their test grids). They fill only the answer slots the verified answers leave empty."""
        d = packed.n_demo
        test = pieces.cells[:, :, d:]                                             # [T, P, Q, s, s]
        fp = self.test_fp(test, packed)
        inputs = self.test_fp(packed.cells[:, d:], packed)
        seen = torch.cat([inputs[:, None], torch.where(found.score > NEG, found.fp, inputs[:, None])], 1)
        score = dedupe(fp, pieces.score.masked_fill(pieces.score >= 2 - 1e-4, NEG), seen)
        score, idx = top(score, self.guesses)
        key = (-RAIL_STEP * ENGINE_RAILS.index(NEAREST) + score).masked_fill(score <= NEG, NEG)
        cells, size, program = take(test, idx), take(pieces.size[:, :, d:], idx), take(pieces.program, idx)
        rail = torch.full_like(idx, ENGINE_RAILS.index(NEAREST))
        return Found(key, take(fp, idx), program[:, :, None], torch.ones_like(idx), rail, cells, size)

    def test_fp(self, test: Tensor, packed: Packed) -> Tensor:
        """Fingerprint of test-slot grids ``test [T, ..., Q, s, s]`` (slots ``n_demo`` onwards) over each task's real
        test slots -> [T, ...]."""
        use = packed.is_test[:, packed.n_demo:]
        return self.hasher.combine(self.hasher.per_slot(test, first_slot=packed.n_demo),
                                   use.view(use.shape[0], *[1] * (test.dim() - 4), use.shape[1]))

    def keep(self, beam: Beam) -> Beam:
        rank, idx = top(dedupe(beam.fp, beam.rank), self.width)
        return beam.select(rank, idx)

    def empty_found(self, tn: int, a: int, packed: Packed) -> Found:
        dev, q, s = packed.cells.device, packed.n_test, packed.side
        k = self.compose_steps if self.compose_pieces else 1
        return Found(torch.full((tn, a), NEG, device=dev), torch.zeros(tn, a, dtype=torch.long, device=dev),
                     torch.zeros(tn, a, k, self.depth, dtype=torch.long, device=dev),
                     torch.ones(tn, a, dtype=torch.long, device=dev),
                     torch.full((tn, a), 2, dtype=torch.long, device=dev),
                     torch.zeros(tn, a, q, s, s, dtype=torch.uint8, device=dev),
                     torch.ones(tn, a, q, 2, dtype=torch.long, device=dev))
