"""Views of a task for the search: the task as given, its colours normalised per grid pair (icecuber's
``normalizeCols``, simplified; free colours ranked by count, ``colours``, or by their first cell in reading order,
``colours_position``), and the task transposed.

In many tasks a role is played by a different colour in every demo (the shape is red in one demo, blue in the next).
A program whose constants are fitted on the demos cannot follow that. The colour view renames colours per pair so
that each role gets one colour across the task: colours every input has, and the colours icecuber keeps (in every
output and no input, or in some output and no input; every output colour when all outputs share their colours) keep
their ids; each pair's remaining input colours, most frequent first (ties: lower id), take the free ids in order,
and the colours left over take the ids left over, in order. The renaming is a permutation defined by the pair's
input alone, so it applies to a test input too and an answer maps back through its inverse. A program that
reproduces every renamed demo output reproduces every real one.

The transposed view swaps rows and columns of every grid: a rule the primitives hold for one direction only
(a ray, a split, a band) is found for the other; answers are transposed back.

A view is ``fn(task) -> (view task, per test input a function mapping its answer back)`` or None where it adds
nothing.
"""
from __future__ import annotations

import functools
from typing import Callable

from topas_lit.data.tasks import Task
from topas_lit.modules.dsl.grid import N_COLOURS

VIEWS = ("task", "colours", "colours_position", "transpose")


def colour_set(grid: list) -> set[int]:
    return {v for row in grid for v in row}


def kept_colours(task: Task) -> set[int]:
    """Colours that keep their ids in every pair of ``task``'s colour view."""
    ins = [colour_set(i) for i in [i for i, _ in task.demos] + list(task.test_inputs)]
    outs = [colour_set(o) for _, o in task.demos]
    orin, andin = set().union(*ins), set.intersection(*ins)
    orout, andout = set().union(*outs), set.intersection(*outs)
    save = andout if orout == andout else andout - orin
    return andin | save | (orout - orin)


def renaming(grid: list, kept: set[int], by: str = "count") -> list[int]:
    """The colour permutation of one pair, from its input ``grid``: ``perm[c]`` is colour c's new id. ``by``:
    free colours ranked by ``count`` (most cells first) or by ``position`` (first met in reading order)."""
    cells = [v for row in grid for v in row]
    counts = [cells.count(c) for c in range(N_COLOURS)]
    free = [c for c in range(N_COLOURS) if c not in kept]
    rank = (lambda c: (-counts[c], c)) if by == "count" else cells.index
    ranked = sorted((c for c in free if counts[c]), key=rank)
    ranked += [c for c in free if not counts[c]]
    perm = list(range(N_COLOURS))
    for slot, c in zip(free, ranked):
        perm[c] = slot
    return perm


def recolour(grid: list, perm: list[int]) -> list:
    return [[perm[v] for v in row] for row in grid]


def inverse(perm: list[int]) -> list[int]:
    inv = [0] * len(perm)
    for c, p in enumerate(perm):
        inv[p] = c
    return inv


def colour_view(task: Task, by: str = "count") -> tuple[Task, list[Callable[[list], list]]] | None:
    """``task`` with colours renamed per pair and, per test input, the inverse renaming of its answers; None where
    the view adds nothing (every pair renamed alike: the search's fitted colours already cover one renaming)."""
    kept = kept_colours(task)
    demo_perms = [renaming(i, kept, by) for i, _ in task.demos]
    test_perms = [renaming(g, kept, by) for g in task.test_inputs]
    if all(p == demo_perms[0] for p in demo_perms + test_perms):
        return None
    view = Task(task.id, tuple((recolour(i, p), recolour(o, p)) for (i, o), p in zip(task.demos, demo_perms)),
                tuple(recolour(g, p) for g, p in zip(task.test_inputs, test_perms)), task.source)
    return view, [functools.partial(recolour, perm=inverse(p)) for p in test_perms]


def transpose(grid: list) -> list:
    return [list(row) for row in zip(*grid)]


def transpose_view(task: Task) -> tuple[Task, list[Callable[[list], list]]] | None:
    """``task`` with every grid transposed; None where every grid is its own transpose."""
    grids = [g for pair in task.demos for g in pair] + list(task.test_inputs)
    if all(transpose(g) == g for g in grids):
        return None
    view = Task(task.id, tuple((transpose(i), transpose(o)) for i, o in task.demos),
                tuple(transpose(g) for g in task.test_inputs), task.source)
    return view, [transpose] * len(task.test_inputs)


BUILD = {"colours": colour_view, "colours_position": functools.partial(colour_view, by="position"),
         "transpose": transpose_view}
