"""The sequence solver as a candidate source: decode every test input under many augmentations, invert, count.

For each test input: ``n_augment`` views (identity first, then dihedral transforms x colour permutations that keep
the task's output-only colours fixed), each decoded greedily under the grid grammar with the task's embedding row
(row 0 when the task was never trained on, or ``use_task_rows`` is off). Every finished decode is inverted back
to the original frame and becomes a candidate; identical grids are counted by the evaluator's vote. A candidate's
confidence is its decode's log-likelihood (mean over the views that produced it, in the vote). Copies of the test
input are dropped (``drop_input_copies``: an ARC answer never equals its input).

With ``model.ebr.views > 0`` (the EBR stage), the distinct candidates of a test input are also scored under that
many views (product of experts: minus the mean log-likelihood over views = the energy, kept on each candidate);
with ``model.ebr.rank=energy`` each distinct grid is proposed once with confidence -energy, so the energy ranks
them instead of the vote count.

Work is batched over all the tasks of a call: items are sorted by prompt length and decoded in chunks whose KV
cache fits ``max_cache_tokens``; each chunk's results reach the host once.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from topas_lit.data.augment import deaugment, augment
from topas_lit.data.sequences import MAX_OUTPUT_TOKENS, pair_length, permutable_colours, random_colour_perms
from topas_lit.data.tasks import Task
from topas_lit.data.tensors import pad_grids, unpad_grids
from topas_lit.eval.voting import Candidate, vote
from topas_lit.modules.dsl.grid import N_COLOURS


@dataclass
class View:
    task: int        # index of the task in the call
    test: int        # test input index
    k: int           # dihedral transform
    perm: Tensor     # [10] colour map


EBR_TOP = 8          # distinct grids per test input the EBR stage scores (the most voted)


class SequenceSource:
    name = "sequence"

    def __init__(self, module=None, n_augment: int = 8, seed: int = 0, use_task_rows: bool = True,
                 drop_input_copies: bool = True, max_cache_tokens: int = 2_000_000, max_new: int = MAX_OUTPUT_TOKENS):
        """``module``: the LightningModule holding ``model`` and ``task_rows`` (or bound by ``start``);
        ``max_cache_tokens``: batch x cache length per decoding chunk (memory: about 4 x layers x d_model bytes
        per token under bf16)."""
        if n_augment < 1:
            raise ValueError(f"module.eval.n_augment must be >= 1, got {n_augment}")
        self.module, self.n_augment, self.seed = module, n_augment, seed
        self.use_task_rows, self.drop_input_copies = use_task_rows, drop_input_copies
        self.max_cache_tokens, self.max_new = max_cache_tokens, max_new

    @classmethod
    def from_settings(cls, settings: dict) -> "SequenceSource":
        ev = settings["eval"]
        return cls(None, ev["n_augment"], ev["seed"], ev.get("task_rows", True), ev.get("drop_input_copies", True),
                   ev.get("max_cache_tokens", 2_000_000))

    def start(self, ctx) -> None:
        if not hasattr(ctx.model, "generate"):
            raise ValueError("module.eval.sources names 'sequence' but the model is not the sequence solver "
                             "(use module=seq with model=seq_tiny|seq_75m, e.g. +experiment=ttt)")
        self.module = ctx.module

    def views(self, tasks: list[Task]) -> list[View]:
        out = []
        for ti, task in enumerate(tasks):
            ok = permutable_colours([p[0] for p in task.demos] + list(task.test_inputs), [p[1] for p in task.demos])
            allowed = torch.zeros(1, N_COLOURS, dtype=torch.bool)
            allowed[0, ok] = True
            for qi in range(len(task.test_inputs)):
                gen = torch.Generator().manual_seed(hash_seed(self.seed, task.id, qi))
                for a in range(self.n_augment):
                    perm = torch.arange(N_COLOURS) if a == 0 else random_colour_perms(allowed, gen)[0]
                    out.append(View(ti, qi, a % 8, perm))
        return out

    @torch.no_grad()
    def __call__(self, tasks: list[Task]) -> list[list[list[Candidate]]]:
        model, device = self.module.model, self.module.device
        views = self.views(tasks)
        grids = [tasks[v.task].test_inputs[v.test] for v in views]
        cells, size = pad_grids(grids)
        k = torch.tensor([v.k for v in views])
        perm = torch.stack([v.perm for v in views])
        a_cells, a_size = augment(cells, size, k, perm)
        rows = torch.tensor([self.row(tasks[v.task]) for v in views])
        prompt_len = pair_length(a_size)
        order = prompt_len.argsort(descending=True).tolist()
        results: dict[int, tuple] = {}
        was_training = model.training
        model.eval()
        try:
            for chunk in self.chunks(order, prompt_len):
                idx = torch.tensor(chunk)
                out_cells, out_size, logp = model.generate(
                    a_cells[idx].to(device), a_size[idx].to(device), rows[idx].to(device), k[idx].to(device),
                    perm[idx].to(device), int(prompt_len[idx].max()), self.max_new)
                back, back_size = deaugment(out_cells, out_size.clamp(min=1), k[idx].to(device),
                                            perm[idx].to(device))
                ok = (out_size > 0).all(-1)
                host = [t.cpu() for t in (back, back_size, ok, logp)]
                flat = unpad_grids(host[0], host[1])
                for j, n in enumerate(chunk):
                    results[n] = (flat[j], bool(host[2][j]), float(host[3][j]))
        finally:
            model.train(was_training)
        cands: list[list[list[Candidate]]] = [[[] for _ in t.test_inputs] for t in tasks]
        for n, v in enumerate(views):
            grid, finished, lp = results[n]
            if not finished or (self.drop_input_copies and grid == tasks[v.task].test_inputs[v.test]):
                continue
            cands[v.task][v.test].append(Candidate(grid, False, lp, "painter", "network", self.name))
        self.task_info = [{} for _ in tasks]
        if model.ebr.views:
            cands = self.rerank(tasks, cands)
        return cands

    def rerank(self, tasks: list[Task], cands: list[list[list[Candidate]]]) -> list[list[list[Candidate]]]:
        """EBR: score the ``EBR_TOP`` most voted distinct grids of each test input under the model's ``ebr.views``
        views (product of experts). ``task_info`` keeps, per task and test input, the top two by energy (then
        votes): the EBR ranking's attempts, recorded beside the vote's. With ``ebr.rank=energy`` those grids are
        proposed once each with confidence -energy (so the energy ranks them); with ``votes`` the decodes stay."""
        items = []                                    # (task index, test index, grid, votes)
        for ti, per_test in enumerate(cands):
            for qi, cs in enumerate(per_test):
                items += [(ti, qi, v.grid, v.count) for v in vote(cs, EBR_TOP)]
        energy = self.energies(tasks, [(ti, qi, g) for ti, qi, g, _ in items]) if items else []
        ranked: dict[tuple[int, int], list] = {}
        for (ti, qi, grid, count), e in sorted(zip(items, energy), key=lambda x: (x[1], -x[0][3])):
            ranked.setdefault((ti, qi), []).append((grid, e))
        self.task_info = [{"ebr_attempts": [[g for g, _ in ranked.get((ti, qi), [])[:2]] for qi in range(len(per_test))]}
                          for ti, per_test in enumerate(cands)]
        if self.module.model.ebr.rank != "energy":
            return cands
        return [[[Candidate(g, False, -e, "painter", "network", self.name, e) for g, e in ranked.get((ti, qi), [])]
                 for qi in range(len(per_test))] for ti, per_test in enumerate(cands)]

    def energies(self, tasks: list[Task], items: list[tuple[int, int, list]]) -> list[float]:
        model, device = self.module.model, self.module.device
        views = model.ebr.views
        inp, in_size = pad_grids([tasks[ti].test_inputs[qi] for ti, qi, _ in items])
        out, out_size = pad_grids([g for _, _, g in items])
        ks, perms = [], []
        for ti, qi, _ in items:
            task = tasks[ti]
            ok = permutable_colours([p[0] for p in task.demos] + list(task.test_inputs), [p[1] for p in task.demos])
            allowed = torch.zeros(1, N_COLOURS, dtype=torch.bool)
            allowed[0, ok] = True
            gen = torch.Generator().manual_seed(hash_seed(self.seed + 1, task.id, qi))
            ks.append(torch.arange(views) % 8)
            perms.append(torch.cat([torch.arange(N_COLOURS)[None],
                                    random_colour_perms(allowed.expand(views - 1, -1), gen)])[:views])
        rows = torch.tensor([self.row(tasks[ti]) for ti, _, _ in items])
        k, perm = torch.stack(ks), torch.stack(perms)
        result = []
        was_training = model.training
        model.eval()
        try:
            for s in range(0, len(items), 256):
                sl = slice(s, s + 256)
                e = model.ebr.energy(model, inp[sl].to(device), in_size[sl].to(device), out[sl].to(device),
                                     out_size[sl].to(device), rows[sl].to(device), k[sl].to(device),
                                     perm[sl].to(device))
                result += e.cpu().tolist()
        finally:
            model.train(was_training)
        return result

    def row(self, task: Task) -> int:
        return self.module.task_rows.get(task.id, 0) if self.use_task_rows else 0

    def chunks(self, order: list[int], prompt_len: Tensor) -> list[list[int]]:
        """Consecutive runs of ``order`` (longest prompt first) whose batch x cache length fits the budget."""
        out, cur = [], []
        for n in order:
            cache = int(prompt_len[cur[0] if cur else n]) + self.max_new
            if cur and (len(cur) + 1) * cache > self.max_cache_tokens:
                out.append(cur)
                cur = []
            cur.append(n)
        if cur:
            out.append(cur)
        return out


def hash_seed(seed: int, task_id: str, test: int) -> int:
    import hashlib
    digest = hashlib.blake2b(f"{seed}:{task_id}:{test}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1
