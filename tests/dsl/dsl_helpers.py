"""Shared helpers of the DSL tests: primitives by name, and batches built from hand-made grids."""
import torch

from topas_lit.data.tensors import pad_grids, unpad_grids
from topas_lit.modules.dsl import PRIMITIVES
from topas_lit.modules.dsl.registry import DemoTargets, GridBatch, apply_primitive

BY_NAME = {p.name: p for p in PRIMITIVES}


def text(*lines):
    """A grid from strings of digits, one a row."""
    return [[int(ch) for ch in line] for line in lines]


def family(name: str) -> dict:
    return {p.name: p for p in PRIMITIVES if p.family == name}


def run_plain(name, grids):
    """A primitive without demo targets on a list of grids: (outputs, ok list)."""
    cells, size, ok = apply_primitive(BY_NAME[name], GridBatch(*pad_grids(grids)), None)
    return unpad_grids(cells, size), ok.tolist()


def one_task(pairs, tests=()):
    """One task: demo pairs then test inputs (whose targets are junk that would break a fit reading them)."""
    ins = [i for i, _ in pairs] + list(tests)
    outs = [o for _, o in pairs] + [[[7] * 3] * 3] * len(tests)
    ci, si = pad_grids(ins)
    co, so = pad_grids(outs)
    g = len(ins)
    has = torch.tensor([True] * len(pairs) + [False] * len(tests)).view(1, g)
    return GridBatch(ci, si), DemoTargets(co.view(1, g, 30, 30), so.view(1, g, 2), has, torch.ones_like(has))


def run_task(name, pairs, tests=()):
    g, demos = one_task(pairs, tests)
    cells, size, ok = apply_primitive(BY_NAME[name], g, demos)
    return unpad_grids(cells, size), ok.tolist()


def candidates(tasks):
    """tasks: list of candidates, each a list of (input, output or None) slots (same count per candidate)."""
    g = len(tasks[0])
    ins = [i for t in tasks for i, _ in t]
    outs = [o if o is not None else [[0]] for t in tasks for _, o in t]
    has = torch.tensor([[o is not None for _, o in t] for t in tasks])
    ci, si = pad_grids(ins)
    co, so = pad_grids(outs)
    co = torch.where(has.view(-1, 1, 1), co, 10)
    m = len(tasks)
    return ci, si, DemoTargets(co.view(m, g, 30, 30), so.view(m, g, 2), has, torch.ones_like(has))


def run_fit(name, tasks):
    ci, si, demos = candidates(tasks)
    out, osize, ok = apply_primitive(BY_NAME[name], GridBatch(ci, si), demos)
    return unpad_grids(out, osize), ok.tolist()
