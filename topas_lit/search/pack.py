"""Tasks -> device tensors for the search: every demo input, demo output and test input of a batch of tasks, on
the smallest canvas that holds them (tasks bucketed by grid size).

One search state of a task is one grid per slot: its D demo inputs, then its Q test inputs (G = D + Q slots),
so one search answers every test input of the task and a program must fit all demos to count. Cells are uint8
(colours 0..9, ``PAD`` = 10 outside the grid); a padded slot (a task with fewer demos or test inputs than the
batch's maximum) holds a 1 x 1 grid and ``exists`` False. Packing runs on the host, then the tensors move to the
device once.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from topas_lit.data.tasks import Task
from topas_lit.modules.dsl.grid import N_COLOURS, PAD, S

CANVASES = (6, 8, 10, 12, 16, 20, 24, 30)  # canvas sides of the buckets (even: states hash as 4-cell words)


def background(task: Task) -> int:
    """The task's background colour: the most common colour of every input grid (demo and test), else 0."""
    firsts = []
    for g in [i for i, _ in task.demos] + list(task.test_inputs):
        counts = [0] * N_COLOURS
        for row in g:
            for v in row:
                counts[v] += 1
        firsts.append(max(range(N_COLOURS), key=lambda c: (counts[c], c == 0)))
    return firsts[0] if all(f == firsts[0] for f in firsts) else 0


def swap_colours(grid: list, a: int, b: int) -> list:
    return [[b if v == a else a if v == b else v for v in row] for row in grid]


def with_background(task: Task, bg: int) -> Task:
    """``task`` with colours ``bg`` and 0 swapped everywhere (an involution): the primitives' background is 0."""
    if bg == 0:
        return task
    return Task(task.id, tuple((swap_colours(i, bg, 0), swap_colours(o, bg, 0)) for i, o in task.demos),
                tuple(swap_colours(g, bg, 0) for g in task.test_inputs), task.source)


def canvas_need(task: Task) -> int:
    """Side a canvas needs for ``task``: its largest grid, and the test outputs the demos' size ratios predict."""
    sides = [(len(g), len(g[0])) for pair in task.demos for g in pair] + [(len(g), len(g[0])) for g in task.test_inputs]
    rh = max(len(o) / len(i) for i, o in task.demos)
    rw = max(len(o[0]) / len(i[0]) for i, o in task.demos)
    pred = [(math.ceil(len(g) * rh - 1e-9), math.ceil(len(g[0]) * rw - 1e-9)) for g in task.test_inputs]
    return min(S, max(max(h, w) for h, w in sides + pred))


def canvas_for(task: Task, canvases: tuple[int, ...] = CANVASES) -> int:
    need = canvas_need(task)
    return min(c for c in canvases if c >= need)


def bucket(tasks: list[Task], canvases: tuple[int, ...] = CANVASES) -> dict[int, list[int]]:
    """Task indices grouped by canvas side (smallest canvas first)."""
    out: dict[int, list[int]] = {}
    for i, t in enumerate(tasks):
        out.setdefault(canvas_for(t, canvases), []).append(i)
    return dict(sorted(out.items()))


def slots(task: Task, max_demos: int = 10) -> tuple[int, int]:
    """(demo slots, test slots) ``task`` fills in a call (at most ``max_demos`` demos)."""
    return min(len(task.demos), max_demos), len(task.test_inputs)


def call_cells(tasks: list[Task], side: int, max_demos: int = 10) -> int:
    """Canvas cells one search state of a call holds over all its tasks: T x G x side^2, every task padded to the
    call's G = most demos + most test inputs (the work of a call scales with it)."""
    d = max(slots(t, max_demos)[0] for t in tasks)
    q = max(slots(t, max_demos)[1] for t in tasks)
    return len(tasks) * (d + q) * side * side


def plan_calls(tasks: list[Task], canvases: tuple[int, ...] = CANVASES, tasks_per_call: int = 256,
               max_demos: int = 10, overhead_cells: int | None = None) -> list[tuple[int, list[int]]]:
    """The search calls for ``tasks``: (canvas side, task indices) per call. Each canvas bucket's tasks are sorted by
    (demo slots, test slots) and cut into consecutive groups of at most ``tasks_per_call`` with the least padded work:
    the sum over calls of ``call_cells`` plus ``overhead_cells`` (a call's fixed cost, in cells of work) — a few
    tasks with many demos no longer pad a whole bucket to their slot count. ``overhead_cells`` None: the bucket in
    task order, cut every ``tasks_per_call`` tasks (no regrouping)."""
    calls = []
    for side, idx in bucket(tasks, canvases).items():
        if overhead_cells is None:
            calls += [(side, idx[lo: lo + tasks_per_call]) for lo in range(0, len(idx), tasks_per_call)]
            continue
        idx = sorted(idx, key=lambda i: slots(tasks[i], max_demos))
        d, q = zip(*(slots(tasks[i], max_demos) for i in idx))       # demo and test slots, in that order
        n, area = len(idx), side * side
        best, cut = [(0, 0)] + [(math.inf, 0)] * n, [0] * (n + 1)   # best[j]: (least cost, calls) of the first j tasks
        for j in range(1, n + 1):
            most_q = 0
            for i in range(j - 1, max(-1, j - 1 - tasks_per_call), -1):   # the last call holds tasks i..j-1
                most_q = max(most_q, q[i])
                cost = (best[i][0] + overhead_cells + (j - i) * (d[j - 1] + most_q) * area, best[i][1] + 1)
                if cost < best[j]:                                  # equal work: fewer calls
                    best[j], cut[j] = cost, i
        ends, j = [], n
        while j:
            ends.append((cut[j], j))
            j = cut[j]
        calls += [(side, idx[i:j]) for i, j in reversed(ends)]
    return calls


@dataclass
class Packed:
    """T tasks on an s x s canvas: G = D + Q slots each (demo inputs, then test inputs)."""

    cells: Tensor        # [T, G, s, s] uint8
    size: Tensor         # [T, G, 2] long
    target: Tensor       # [T, G, s, s] uint8: demo outputs, PAD on test and padded slots
    target_size: Tensor  # [T, G, 2] long (1 x 1 where no target)
    has_target: Tensor   # [T, G] bool: a real demo slot
    exists: Tensor       # [T, G] bool: a real slot (demo or test)
    n_demo: int          # D
    n_test: int          # Q

    @property
    def tasks(self) -> int:
        return self.cells.shape[0]

    @property
    def slots(self) -> int:
        return self.cells.shape[1]

    @property
    def side(self) -> int:
        return self.cells.shape[-1]

    @property
    def is_test(self) -> Tensor:
        """[T, G] bool: a real test slot."""
        test = torch.arange(self.slots, device=self.cells.device) >= self.n_demo
        return self.exists & test

    def to(self, device) -> "Packed":
        move = lambda x: x.to(device, non_blocking=True)  # noqa: E731
        return Packed(move(self.cells), move(self.size), move(self.target), move(self.target_size),
                      move(self.has_target), move(self.exists), self.n_demo, self.n_test)


def pack(tasks: list[Task], side: int, max_demos: int = 10, device=None) -> Packed:
    """Pack ``tasks`` (every grid at most ``side`` per side) on an ``side`` x ``side`` canvas, on the host, then move
    the tensors to ``device`` once."""
    t = len(tasks)
    d = max(slots(x, max_demos)[0] for x in tasks)
    q = max(slots(x, max_demos)[1] for x in tasks)
    g = d + q
    cells = torch.full((t, g, side, side), PAD, dtype=torch.uint8)
    target = torch.full((t, g, side, side), PAD, dtype=torch.uint8)
    size = torch.ones(t, g, 2, dtype=torch.long)
    target_size = torch.ones(t, g, 2, dtype=torch.long)
    has_target = torch.zeros(t, g, dtype=torch.bool)
    exists = torch.zeros(t, g, dtype=torch.bool)
    cells[:, :, 0, 0] = 0                                       # padded slots: a 1 x 1 grid of colour 0

    def put(dst, dst_size, n, k, grid):
        x = torch.tensor(grid, dtype=torch.uint8)
        if x.shape[0] > side or x.shape[1] > side:
            raise ValueError(f"task {tasks[n].id!r}: a {tuple(x.shape)} grid does not fit the {side} x {side} canvas")
        dst[n, k, : x.shape[0], : x.shape[1]] = x
        dst_size[n, k] = torch.tensor(x.shape)

    for n, task in enumerate(tasks):
        for k, (i, o) in enumerate(task.demos[:max_demos]):
            put(cells, size, n, k, i)
            put(target, target_size, n, k, o)
            has_target[n, k] = exists[n, k] = True
        for k, x in enumerate(task.test_inputs):
            put(cells, size, n, d + k, x)
            exists[n, d + k] = True
    packed = Packed(cells, size, target, target_size, has_target, exists, d, q)
    return packed if device is None else packed.to(device)


def from_inputs(inputs: dict[str, Tensor]) -> Packed:
    """The model's items (``topas_lit.data.tensors``: one test input per item, 30 x 30 long) as a Packed of one
    test slot per item, on the inputs' device (no host transfer)."""
    b = inputs["test_in"].shape[0]
    dev = inputs["test_in"].device
    cells = torch.cat([inputs["demo_in"], inputs["test_in"][:, None]], 1).to(torch.uint8)
    size = torch.cat([inputs["demo_in_size"], inputs["test_in_size"][:, None]], 1)
    no_target = torch.full((b, 1, S, S), PAD, dtype=torch.uint8, device=dev)
    target = torch.cat([inputs["demo_out"].to(torch.uint8), no_target], 1)
    one = torch.ones(b, 1, 2, dtype=size.dtype, device=dev)
    target_size = torch.cat([inputs["demo_out_size"], one], 1)
    demo_mask = inputs["demo_mask"]
    false = torch.zeros(b, 1, dtype=torch.bool, device=dev)
    return Packed(cells, size, target, target_size, torch.cat([demo_mask, false], 1), torch.cat([demo_mask, ~false], 1),
                  demo_mask.shape[1], 1)
