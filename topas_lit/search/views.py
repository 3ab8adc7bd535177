"""Views of a task for the search: the task as given, its colours normalised per grid pair (icecuber's
``normalizeCols``, simplified; free colours ranked by count, ``colours``, or by their first cell in reading order,
``colours_position``; or ranked by the features that set them apart, as icecuber's UniquePicker does,
``colours_unique``), and the task transposed.

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

VIEWS = ("task", "colours", "colours_position", "colours_unique", "transpose")


def colour_set(grid: list) -> set[int]:
    return {v for row in grid for v in row}


def union_and(grids: list) -> tuple[set[int], set[int]]:
    """The colours of any of ``grids``, and those of every one."""
    sets = [colour_set(g) for g in grids]
    return set().union(*sets), set.intersection(*sets)


def kept_colours(task: Task) -> set[int]:
    """Colours that keep their ids in every pair of ``task``'s colour view."""
    orin, andin = union_and([i for i, _ in task.demos] + list(task.test_inputs))
    orout, andout = union_and([o for _, o in task.demos])
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


def renamed(task: Task, demo_perms: list, test_perms: list) -> tuple[Task, list[Callable[[list], list]]] | None:
    """``task`` with each pair recoloured by its permutation and, per test input, the inverse renaming of its answers;
    None where every pair is renamed alike (the search's fitted colours already cover one renaming)."""
    if all(p == demo_perms[0] for p in demo_perms + test_perms):
        return None
    view = Task(task.id, tuple((recolour(i, p), recolour(o, p)) for (i, o), p in zip(task.demos, demo_perms)),
                tuple(recolour(g, p) for g, p in zip(task.test_inputs, test_perms)), task.source)
    return view, [functools.partial(recolour, perm=inverse(p)) for p in test_perms]


def colour_view(task: Task, by: str = "count") -> tuple[Task, list[Callable[[list], list]]] | None:
    """``task`` with colours renamed per pair and, per test input, the inverse renaming of its answers; None where
    the view adds nothing (every pair renamed alike: the search's fitted colours already cover one renaming)."""
    kept = kept_colours(task)
    demo_perms = [renaming(i, kept, by) for i, _ in task.demos]
    test_perms = [renaming(g, kept, by) for g in task.test_inputs]
    return renamed(task, demo_perms, test_perms)


# ---- colours ranked by what sets them apart (icecuber's UniquePicker, our formulation) --------------------------

def colour_features(grid: list, c: int) -> list[float]:
    """What distinguishes colour ``c``'s cells in ``grid``: their count, number of 8-connected components and enclosed
    cells (each also as its inverse, so that "fewest" can stand out), which colour it is (one feature per colour id),
    and how far they reach in 8 directions from the grid's centre."""
    h, w = len(grid), len(grid[0])
    cells = {(i, j) for i in range(h) for j in range(w) if grid[i][j] == c}
    comps, todo = 0, set(cells)
    while todo:
        comps += 1
        stack = [todo.pop()]
        while stack:
            i, j = stack.pop()
            for di in (-1, 0, 1):
                for dj in (-1, 0, 1):
                    if (i + di, j + dj) in todo:
                        todo.discard((i + di, j + dj))
                        stack.append((i + di, j + dj))
    outside = {(i, j) for i in range(h) for j in range(w) if (i in (0, h - 1) or j in (0, w - 1)) and (i, j) not in cells}
    stack = list(outside)
    while stack:
        i, j = stack.pop()
        for ni, nj in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)):
            if 0 <= ni < h and 0 <= nj < w and (ni, nj) not in cells and (ni, nj) not in outside:
                outside.add((ni, nj))
                stack.append((ni, nj))
    enclosed = h * w - len(cells) - len(outside)
    feats = [len(cells), 1 / (len(cells) + 1e-3), comps, 1 / (comps + 1e-3), enclosed, 1 / (enclosed + 1e-3)]
    feats += [float(k == c) + 2 for k in range(N_COLOURS)]
    for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1)):
        feats.append(1000 + max(((2 * i - h + 1) * di + (2 * j - w + 1) * dj for i, j in cells), default=-50))
    return feats


def standout(feats: list[list[float]], i: int, f: int, rest: list[int]) -> float:
    """How far colour ``i`` stands apart from the ``rest`` on feature ``f``: its smallest ratio to another's."""
    return min((feats[i][f] / (feats[j][f] + 1e-5) for j in rest if j != i), default=1e3)


def picked(feats: list[list[float]], f: int | None, left: list[int]) -> int:
    """The colour (index into ``feats``) among ``left`` that stands out most on feature ``f`` (None: on any)."""
    fs = range(len(feats[left[0]])) if f is None else [f]
    return max(left, key=lambda i: (max(standout(feats, i, g, left) for g in fs), i))


def feature_order(inputs: list[list], kept: set[int]) -> list[int]:
    """The features that single the renamed colours out, one per rank, chosen on the demo inputs: at each rank the
    feature on which every input's most distinct remaining colour stands out most (its worst input counts)."""
    feats = [[colour_features(g, c) for c in sorted(colour_set(g) - kept)] for g in inputs]
    left = [list(range(len(f))) for f in feats]
    order = []
    while any(left):
        live = [n for n in range(len(inputs)) if left[n]]
        picks = [[picked(feats[n], f, left[n]) for n in live] for f in range(len(feats[live[0]][0]))]
        best = max(range(len(picks)), key=lambda f: (min(standout(feats[n], i, f, left[n])
                                                         for n, i in zip(live, picks[f])), f))
        order.append(best)
        for n, i in zip(live, picks[best]):
            left[n].remove(i)
    return order


def unique_renaming(grid: list, kept: set[int], order: list[int]) -> list[int]:
    """The permutation of one pair from its input: kept colours take the first ids (in id order), then the input's
    other colours in the order ``order``'s features pick them, then the absent colours."""
    free = sorted(colour_set(grid) - kept)
    feats = [colour_features(grid, c) for c in free]
    left, ranked = list(range(len(free))), []
    for rank in range(len(free)):
        i = picked(feats, order[rank] if rank < len(order) else None, left)
        left.remove(i)
        ranked.append(free[i])
    seq = sorted(kept) + ranked + [c for c in range(N_COLOURS) if c not in kept and c not in ranked]
    perm = [0] * N_COLOURS
    for new, c in enumerate(seq):
        perm[c] = new
    return perm


def unique_view(task: Task) -> tuple[Task, list[Callable[[list], list]]] | None:
    """``task`` with colours renamed per pair by what sets each colour apart (icecuber's UniquePicker): colour 0, the
    colours in every output and no input (every output colour when all outputs share their colours), the colours in
    every input and no output, and the output-only colours keep fixed ids; each pair's other input colours are
    ranked by the features chosen on the demo inputs. None where every pair is renamed alike."""
    orin, andin = union_and([i for i, _ in task.demos])
    orout, andout = union_and([o for _, o in task.demos])
    kept = (andout if orout == andout else andout - orin) | (andin - orout) | (orout - orin) | {0}
    order = feature_order([i for i, _ in task.demos], kept)
    demo_perms = [unique_renaming(i, kept, order) for i, _ in task.demos]
    test_perms = [unique_renaming(g, kept, order) for g in task.test_inputs]
    return renamed(task, demo_perms, test_perms)


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
         "colours_unique": unique_view, "transpose": transpose_view}
