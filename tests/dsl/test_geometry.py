"""Geometry primitives on small hand-made grids (numpy gives the expected dihedral transforms)."""
import numpy as np
import pytest
import torch

from topas_lit.callbacks.sync_guard import HostReadGuard
from topas_lit.data.tensors import pad_grids, unpad_grids
from topas_lit.modules.dsl import PRIMITIVES
from topas_lit.modules.dsl.registry import DemoTargets, GridBatch, apply_primitive

PRIM = {p.name: p for p in PRIMITIVES}
A = [[1, 2, 3], [4, 5, 6]]
B = [[0, 7], [8, 0], [0, 9]]


def run_plain(name, grids):
    cells, size = pad_grids(grids)
    out, osize, ok = apply_primitive(PRIM[name], GridBatch(cells, size), None)
    return unpad_grids(out, osize), ok.tolist()


def make_tasks(tasks):
    """tasks: list of (demo pairs, test inputs) -> GridBatch, DemoTargets with padded slots as the probe/search make."""
    g = max(len(p) + len(t) for p, t in tasks)
    ins, outs, has, exists = [], [], [], []
    for pairs, tests in tasks:
        pad = g - len(pairs) - len(tests)
        ins += [a for a, _ in pairs] + tests + [[[0]]] * pad
        outs += [b for _, b in pairs] + [[[0]]] * (len(tests) + pad)
        has += [True] * len(pairs) + [False] * (len(tests) + pad)
        exists += [True] * (len(pairs) + len(tests)) + [False] * pad
    cells, size = pad_grids(ins)
    tgt, tsize = pad_grids(outs)
    has_t = torch.tensor(has).view(len(tasks), g)
    tgt = torch.where(has_t.view(-1, 1, 1), tgt, 10)
    demos = DemoTargets(tgt.view(len(tasks), g, 30, 30), tsize.view(len(tasks), g, 2), has_t,
                        torch.tensor(exists).view(len(tasks), g))
    return GridBatch(cells, size), demos


def run_fitted(name, tasks):
    g, demos = make_tasks(tasks)
    out, size, ok = apply_primitive(PRIM[name], g, demos)
    n = demos.slots
    grids, oks = unpad_grids(out, size), ok.tolist()
    return [grids[i * n:(i + 1) * n] for i in range(len(tasks))], [oks[i * n:(i + 1) * n] for i in range(len(tasks))]


@pytest.mark.parametrize("name,fn", [
    ("rot90", lambda a: np.rot90(a, -1)), ("rot180", lambda a: np.rot90(a, 2)), ("rot270", lambda a: np.rot90(a, 1)),
    ("flip_lr", np.fliplr), ("flip_ud", np.flipud), ("transpose", lambda a: a.T),
    ("antitranspose", lambda a: np.rot90(a, 2).T), ("identity", lambda a: a),
])
def test_dihedral(name, fn):
    out, ok = run_plain(name, [A, B, [[5]]])
    assert out == [fn(np.array(x)).tolist() for x in (A, B, [[5]])]
    assert all(ok)


def test_shifts():
    g = [[1, 2], [3, 4]]
    assert run_plain("shift_up", [g])[0] == [[[3, 4], [0, 0]]]
    assert run_plain("shift_down", [g])[0] == [[[0, 0], [1, 2]]]
    assert run_plain("shift_left", [g])[0] == [[[2, 0], [4, 0]]]
    assert run_plain("shift_right", [g, [[7]]])[0] == [[[0, 1], [0, 3]], [[0]]]


def _shift(a, dy, dx):
    a = np.array(a)
    out = np.zeros_like(a)
    h, w = a.shape
    for i in range(h):
        for j in range(w):
            if 0 <= i - dy < h and 0 <= j - dx < w:
                out[i, j] = a[i - dy, j - dx]
    return out.tolist()


def test_translate_fit():
    d1 = [[0, 0, 0, 0], [0, 3, 3, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    d2 = [[5, 0, 0], [0, 5, 0], [0, 0, 0]]
    t = [[0, 0, 0, 0, 0], [0, 0, 4, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]]
    # content partly leaves the frame in the test slot: bottom-right / top-left anchors both fit the demos
    t2 = [[2, 2], [2, 2]]
    good = ([(d1, _shift(d1, 1, 1)), (d2, _shift(d2, 1, 1))], [t, t2])
    bad = ([(d1, _shift(d1, 1, 0)), (d2, _shift(d2, 0, 1))], [t])
    none = ([(d1, d1)], [t])                                   # (0, 0) is identity's job
    clip = ([(d2, _shift(d2, 2, 0))], [t])                     # content shifted partly off the bottom
    out, ok = run_fitted("translate_fit", [good, bad, none, clip])
    assert ok[0] == [True] * 4 and out[0][2] == _shift(t, 1, 1) and out[0][3] == [[0, 0], [0, 2]]
    assert not any(ok[1]) and not any(ok[2])
    assert ok[3][:2] == [True, True] and out[3][1] == _shift(t, 2, 0)


def test_no_host_reads():
    g, demos = make_tasks([([(A, np.rot90(A).tolist())], [B]), ([([[1]], [[1]]), (B, B)], [])])
    for prim in PRIMITIVES:
        if prim.family == "geometry":
            with HostReadGuard("error"):
                apply_primitive(prim, g, demos)
