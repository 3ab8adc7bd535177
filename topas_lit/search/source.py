"""The search as a candidate source for the evaluator (docs: INTERFACES "Candidates and sources").

``SearchSource(tasks, op_prior=None)`` -> per task, per test input, its candidates: the distinct test-output
grids of the verified programs the engine found, best first, then its unverified guesses where the engine makes
them (rail ``nearest``, ``rail.guesses``; unverified candidates), at most ``attempts`` in all, each with its
program text and the rail that found it. It receives tasks without solutions, buckets them by canvas size,
runs the engine on the device, and moves each call's results to the host once, at the end of the call.
"""
from __future__ import annotations

import dataclasses
import math
import multiprocessing
from dataclasses import dataclass

import torch
from torch import Tensor

from topas_lit.data.tasks import Task
from topas_lit.eval.voting import Candidate
from topas_lit.modules.dsl import OP_NAMES
from topas_lit.modules.dsl.program import program_text
from topas_lit.modules.dsl.search import COMPOSE, NEAREST
from topas_lit.search.engine import ENGINE_RAILS, SearchEngine, SearchResult
from topas_lit.search.pack import CANVASES, background, call_cells, pack, plan_calls, swap_colours, with_background
from topas_lit.search.views import BUILD, VIEWS

CANDIDATE_HAS_SOURCE = "source" in {f.name for f in dataclasses.fields(Candidate)}
GUESS_CONFIDENCE = -1e9   # an unverified guess of the search ranks after any other source's unverified answer


@dataclass
class TaskAnswers:
    """Host-side result of one task: per test input its distinct answer grids with program and rail."""

    task_id: str
    grids: list[list]       # [test input][answer] grid
    programs: list[list]    # [test input][answer] program text
    rails: list[list]       # [test input][answer] rail name
    candidates: int         # child states evaluated for this task
    steps: list[list] = dataclasses.field(default_factory=list)   # [test input][answer] ops in its program(s)
    views: list[list] = dataclasses.field(default_factory=list)   # [test input][answer] views that found the grid


ANSWER_ORDERS = ("found", "views", "steps", "views_steps")


def ranked(answers: TaskAnswers, order: str, attempts: int) -> TaskAnswers:
    """Per test input, the answers in ``order`` (a stable sort of the found order: the task's own answers as the
    engine ranked them, then each view's), at most ``attempts``: ``found`` keeps that order, ``views`` puts the
    grids more views found first, ``steps`` the programs of fewer ops first, ``views_steps`` both (views first).
    In every order the unverified guesses (rail ``nearest``) come after every verified answer."""
    key = {"found": lambda v, n: 0, "views": lambda v, n: -v, "steps": lambda v, n: n,
           "views_steps": lambda v, n: (-v, n)}[order]
    fields = ("grids", "programs", "rails", "steps", "views")
    picked = {f: [] for f in fields}
    for q, (views, steps, rails) in enumerate(zip(answers.views, answers.steps, answers.rails)):
        idx = sorted(range(len(views)), key=lambda a: (rails[a] == NEAREST, key(views[a], steps[a])))[:attempts]
        for f in fields:
            picked[f].append([getattr(answers, f)[q][a] for a in idx])
    return dataclasses.replace(answers, **picked)


def host_answers(tasks: list[Task], res: SearchResult, backgrounds: list[int] | None = None) -> list[TaskAnswers]:
    """One transfer of a search call's results to the host, then per task / test input the distinct grids (with
    each task's background swap undone)."""
    score, cells, size, parts, n_parts, rail, cands = (x.cpu() for x in (res.score, res.cells, res.size, res.parts,
                                                                         res.n_parts, res.rail, res.candidates))
    out = []
    for n, task in enumerate(tasks):
        grids, programs, rails, steps = [], [], [], []
        for q in range(len(task.test_inputs)):
            g_q, p_q, r_q, n_q = [], [], [], []
            for a in range(score.shape[1]):
                if not math.isfinite(float(score[n, a])):
                    break
                h, w = size[n, a, q].tolist()
                grid = swap_colours(cells[n, a, q, :h, :w].tolist(), backgrounds[n] if backgrounds else 0, 0)
                if grid in g_q:
                    continue
                g_q.append(grid)
                name = ENGINE_RAILS[int(rail[n, a])]
                texts = [program_text(parts[n, a, k].tolist(), OP_NAMES) for k in range(int(n_parts[n, a]))]
                p_q.append(f"{COMPOSE}({' ; '.join(texts)})" if name == COMPOSE else texts[0])
                r_q.append(name)
                n_q.append(int((parts[n, a, :int(n_parts[n, a])] != 0).sum()))
            grids.append(g_q)
            programs.append(p_q)
            rails.append(r_q)
            steps.append(n_q)
        out.append(TaskAnswers(task.id, grids, programs, rails, int(cands[n]), steps, [[1] * len(g) for g in grids]))
    return out


def with_view(task: TaskAnswers, view: TaskAnswers, back: list, name: str, vote: bool = True) -> TaskAnswers:
    """``task``'s answers followed by its ``view``'s (each test input's answers mapped back through ``back[q]``,
    program text marked ``@name``); a grid the task's answers already hold counts one more view instead (unless
    not ``vote``: the view's search is one counted already). Only verified answers vote: a guess (rail
    ``nearest``) of a grid the task already holds adds nothing, and a grid the task only guessed and the view
    verifies leaves the task's guesses and joins as the view's answer (so the verified answers keep the order they
    have with the guesses off)."""
    grids, programs, rails, steps, views = [], [], [], [], []
    for q, inv in enumerate(back):
        g_q, p_q, r_q = list(task.grids[q]), list(task.programs[q]), list(task.rails[q])
        n_q, v_q = list(task.steps[q]), list(task.views[q])
        for grid, prog, rail, n in zip(view.grids[q], view.programs[q], view.rails[q], view.steps[q]):
            grid = inv(grid)
            if grid in g_q:
                a = g_q.index(grid)
                if rail == NEAREST:
                    continue
                if r_q[a] != NEAREST:
                    v_q[a] += vote
                    continue
                for x in (g_q, p_q, r_q, n_q, v_q):     # a guess the view verifies: the view's answer replaces it
                    del x[a]
            g_q.append(grid)
            p_q.append(f"{prog} @{name}")
            r_q.append(rail)
            n_q.append(n)
            v_q.append(1)
        for x, y in zip((grids, programs, rails, steps, views), (g_q, p_q, r_q, n_q, v_q)):
            x.append(y)
    return TaskAnswers(task.task_id, grids, programs, rails, task.candidates + view.candidates, steps, views)


def step_scores(op_prior: Tensor | None, depth: int, n_ops: int) -> Tensor | None:
    """An op prior per task ([T, n_ops] or [T, depth, n_ops] log-probabilities) -> per-step scores."""
    if op_prior is None:
        return None
    if op_prior.dim() == 2:
        op_prior = op_prior[:, None].expand(-1, depth, -1)
    if op_prior.shape[1:] != (depth, n_ops):
        raise ValueError(f"op prior of shape {tuple(op_prior.shape)}; expected [tasks, {n_ops}] or "
                         f"[tasks, {depth}, {n_ops}]")
    return op_prior


class SearchSource:
    """A candidate source: the level-wise search over ``tasks`` (no solutions), per canvas bucket, in calls of
    at most ``tasks_per_call`` tasks (grouped by slot count: ``plan_calls``)."""

    def __init__(self, engine: SearchEngine, name: str = "rails", device: str | torch.device = "cpu",
                 canvases: tuple[int, ...] = CANVASES, tasks_per_call: int = 256, max_demos: int = 10,
                 attempts: int = 2, normalise_background: bool = True, cpu_workers: int = 1,
                 views: tuple[str, ...] = ("task",), answer_order: str = "found",
                 call_overhead_cells: int | None = None):
        """``normalise_background``: a task whose inputs all share a most common colour other than 0 is searched
        with that colour and 0 swapped (the primitives treat 0 as the background), its answers swapped back.
        ``cpu_workers``: on CPU, the search calls (canvas buckets) are shared by this many processes of one thread
        each (the answers do not depend on it). ``views``: the task as given (``task``) and, with ``colours``, its
        colours renamed per pair, with ``transpose``, its grids transposed (``topas_lit/search/views.py``), all
        searched in the same calls; a task's own answers come first, then its views' in the order given.
        ``answer_order``: how each test input's answers are ranked before the first ``attempts`` are kept
        (``ranked``: that found order, or more views first, or fewer program steps first).
        ``call_overhead_cells``: a search call's fixed cost in cells of work; each canvas bucket is cut into the
        calls of least padded work plus this per call (``plan_calls``; None: one call per ``tasks_per_call`` tasks
        of a bucket, in task order). The answers do not depend on it, on the CPU or the GPU (docs/PERFORMANCE.md,
        the pool of pieces over all children)."""
        unknown = set(views) - set(VIEWS)
        if unknown or not views or views[0] != "task":
            raise ValueError(f"rail.views {list(views)}: must start with 'task' and hold only names from "
                             f"{list(VIEWS)}")
        self.engine = engine.to(device)
        self.name, self.device = name, torch.device(device)
        self.canvases, self.tasks_per_call, self.max_demos, self.attempts = tuple(canvases), tasks_per_call, \
            max_demos, attempts
        self.normalise_background, self.cpu_workers = normalise_background, cpu_workers
        self.views = tuple(views)
        if answer_order not in ANSWER_ORDERS:
            raise ValueError(f"rail.answer_order {answer_order!r}: one of {list(ANSWER_ORDERS)}")
        self.answer_order = answer_order
        self.call_overhead_cells = call_overhead_cells

    def search(self, tasks: list[Task], op_prior: Tensor | None = None) -> list[TaskAnswers]:
        """Per task (in order) its answers; ``op_prior`` [T, n_ops] or [T, depth, n_ops] or None (uniform). A view
        whose grids equal an earlier view's of the same task (the count and feature rankings often agree) is
        searched once: its answers are the earlier view's search mapped back through its own renaming."""
        extra = [(name, i, view) for name in self.views[1:] for i, t in enumerate(tasks)
                 if (view := BUILD[name](t)) is not None]              # (view name, task index, (task, back-maps))
        if not extra:
            return [ranked(a, self.answer_order, self.attempts) for a in self.search_tasks(tasks, op_prior)]
        searched: dict[tuple, int] = {}                                # (task index, grids) -> index in ``views``
        views, which = [], []
        for _, i, (view, _) in extra:
            j = searched.setdefault((i, repr((view.demos, view.test_inputs))), len(views))
            if j == len(views):
                views.append((i, view))
            which.append(j)
        if op_prior is not None:
            idx = torch.tensor([i for i, _ in views], device=op_prior.device)
            op_prior = torch.cat([op_prior, op_prior[idx]])
        found = self.search_tasks(list(tasks) + [view for _, view in views], op_prior)
        out, first = found[:len(tasks)], set()
        for (name, i, view), j in zip(extra, which):
            ans = found[len(tasks) + j]
            again = j in first                  # searched once: its candidates and its vote count once
            if again:
                ans = dataclasses.replace(ans, candidates=0)
            first.add(j)
            out[i] = with_view(out[i], ans, view[1], name, vote=not again)
        return [ranked(a, self.answer_order, self.attempts) for a in out]

    def search_tasks(self, tasks: list[Task], op_prior: Tensor | None = None) -> list[TaskAnswers]:
        """The search over ``tasks`` as given (no views)."""
        scores = step_scores(op_prior, self.engine.depth, self.engine.n_ops)
        bgs = [background(t) if self.normalise_background else 0 for t in tasks]
        tasks = [with_background(t, bg) for t, bg in zip(tasks, bgs)]
        calls = plan_calls(tasks, self.canvases, self.tasks_per_call, self.max_demos, self.call_overhead_cells)
        jobs = [(side, [tasks[i] for i in part], None if scores is None else scores[torch.tensor(part)])
                for side, part in calls]
        if self.cpu_workers > 1 and self.device.type == "cpu" and len(jobs) > 1:
            results = in_workers(self.engine.config, jobs, self.max_demos, self.cpu_workers)
        else:
            results = [run_call(self.engine, job, self.max_demos) for job in jobs]
        out: list[TaskAnswers | None] = [None] * len(tasks)
        for (side, part), (_, sub, _), res in zip(calls, jobs, results):
            for i, ans in zip(part, host_answers(sub, res, [bgs[i] for i in part])):
                out[i] = ans
        return out

    def __call__(self, tasks: list[Task], op_prior: Tensor | None = None) -> list[list[list[Candidate]]]:
        return [[[self.candidate(grid, prog, rail, a) for a, (grid, prog, rail) in enumerate(zip(g, p, r))]
                 for g, p, r in zip(ans.grids, ans.programs, ans.rails)] for ans in self.search(tasks, op_prior)]

    def candidate(self, grid: list, program: str, rail: str, rank: int) -> Candidate:
        """A verified candidate, or an unverified one for a guess (rail ``nearest``, confidence below any other
        source's so that voting prefers their answers); confidence falls with the engine's rank so voting keeps
        the engine's order."""
        extra = {"source": self.name} if CANDIDATE_HAS_SOURCE else {}
        if rail == NEAREST:
            return Candidate(grid, False, GUESS_CONFIDENCE - rank, rail, program, **extra)
        return Candidate(grid, True, 1.0 / (1 + rank), rail, program, **extra)


def run_call(engine: SearchEngine, job: tuple, max_demos: int) -> SearchResult:
    """One search call: (canvas side, tasks, prior or None) -> the engine's result on the engine's device."""
    side, tasks, prior = job
    dev = engine.op_ids.device
    return engine(pack(tasks, side, max_demos, dev), None if prior is None else prior.to(dev))


_ENGINE: SearchEngine | None = None    # a worker process's engine and demo limit (set once, by ``_worker_init``)
_MAX_DEMOS: int | None = None


def _worker_init(config: dict, max_demos: int) -> None:
    global _ENGINE, _MAX_DEMOS
    torch.set_num_threads(1)
    _ENGINE, _MAX_DEMOS = SearchEngine(**config), max_demos


def _worker(item: tuple[int, tuple]) -> tuple[int, SearchResult]:
    j, job = item
    return j, run_call(_ENGINE, job, _MAX_DEMOS)


def in_workers(config: dict, jobs: list, max_demos: int, workers: int) -> list[SearchResult]:
    """Run the search calls in ``workers`` CPU processes (spawned; one thread and one engine each): the calls are
    queued costliest first and each process takes the next one as soon as it is free, so no process idles while
    another still has a queue of its own; results in the order of ``jobs``."""
    cost = [call_cells(tasks, side, max_demos) for side, tasks, _ in jobs]
    order = sorted(range(len(jobs)), key=lambda j: -cost[j])
    out: list[SearchResult | None] = [None] * len(jobs)
    with multiprocessing.get_context("spawn").Pool(min(workers, len(jobs)), initializer=_worker_init,
                                                   initargs=(config, max_demos)) as pool:
        for j, res in pool.imap_unordered(_worker, [(j, jobs[j]) for j in order]):
            out[j] = res
    return out


def build_source(rail, device: str | torch.device = "cpu", name: str = "rails", max_demos: int = 10,
                 attempts: int = 2) -> SearchSource:
    """The search source from the rail config (``conf/rail/*.yaml``), answering up to ``attempts`` distinct grids per
    test input."""
    engine = SearchEngine(depth=rail.depth, beam_width=rail.beam_width, policy_topk=rail.policy_topk,
                          order=tuple(rail.order), progress_weight=rail.progress_weight,
                          answers_kept=rail.answers_kept, chunk_cells=rail.chunk_cells,
                          compose_pieces=rail.compose_pieces, compose_steps=rail.compose_steps,
                          guesses=rail.get("guesses", 0))
    return SearchSource(engine, name, device, tuple(rail.canvases), rail.tasks_per_call, max_demos, attempts,
                        normalise_background=rail.normalise_background, cpu_workers=rail.cpu_workers,
                        views=tuple(rail.views), answer_order=rail.get("answer_order", "found"),
                        call_overhead_cells=rail.get("call_overhead_cells"))
