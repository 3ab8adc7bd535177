"""Views of a task for the search: the task as given, and its colours normalised per grid pair (icecuber's
``normalizeCols``, simplified).

In many tasks a role is played by a different colour in every demo (the shape is red in one demo, blue in the next).
A program whose constants are fitted on the demos cannot follow that. The colour view renames colours per pair so
that each role gets one colour across the task: colours every input has, and the colours icecuber keeps (in every
output and no input, or in every input and no output; every output colour when all outputs share their colours) keep
their ids; each pair's remaining input colours, most frequent first (ties: lower id), take the free ids in order,
and the colours left over take the ids left over, in order. The renaming is a permutation defined by the pair's
input alone, so it applies to a test input too and an answer maps back through its inverse. A program that
reproduces every renamed demo output reproduces every real one.
"""
from __future__ import annotations

from topas_lit.data.tasks import Task

N_COLOURS = 10
VIEWS = ("task", "colours")


def colour_set(grid: list) -> set[int]:
    return {v for row in grid for v in row}


def kept_colours(task: Task) -> set[int]:
    """Colours that keep their ids in every pair of ``task``'s colour view."""
    ins = [colour_set(i) for i in [i for i, _ in task.demos] + list(task.test_inputs)]
    outs = [colour_set(o) for _, o in task.demos]
    orin, andin = set().union(*ins), set.intersection(*ins)
    orout, andout = set().union(*outs), set.intersection(*outs)
    save = andout if orout == andout else andout - orin
    return andin | save | (andin - orout) | (orout - orin)


def renaming(grid: list, kept: set[int]) -> list[int]:
    """The colour permutation of one pair, from its input ``grid``: ``perm[c]`` is colour c's new id."""
    counts = [0] * N_COLOURS
    for row in grid:
        for v in row:
            counts[v] += 1
    free = [c for c in range(N_COLOURS) if c not in kept]
    ranked = sorted((c for c in free if counts[c]), key=lambda c: (-counts[c], c))
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


def colour_view(task: Task) -> tuple[Task, list[list[int]]] | None:
    """``task`` with colours renamed per pair and, per test input, the inverse renaming of its answers; None where
    the view adds nothing (every pair renamed alike: the search's fitted colours already cover one renaming)."""
    kept = kept_colours(task)
    demo_perms = [renaming(i, kept) for i, _ in task.demos]
    test_perms = [renaming(g, kept) for g in task.test_inputs]
    if all(p == demo_perms[0] for p in demo_perms + test_perms):
        return None
    view = Task(task.id, tuple((recolour(i, p), recolour(o, p)) for (i, o), p in zip(task.demos, demo_perms)),
                tuple(recolour(g, p) for g, p in zip(task.test_inputs, test_perms)), task.source)
    return view, [inverse(p) for p in test_perms]
