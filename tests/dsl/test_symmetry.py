"""Symmetry primitives on small hand-made grids."""
import numpy as np
import pytest
from test_geometry import make_tasks, run_fitted, run_plain  # shared task builders (tests/dsl is on sys.path)

from topas_lit.callbacks.sync_guard import HostReadGuard
from topas_lit.modules.dsl import PRIMITIVES
from topas_lit.modules.dsl.registry import apply_primitive

RNG = np.random.default_rng(0)


def d4_pattern(n, colours=(1, 2, 3, 4)):
    """A random n x n grid symmetric under all 8 dihedral transforms."""
    a = RNG.choice(colours, size=(n, n))
    a = np.triu(a) + np.triu(a, 1).T
    a = a[: (n + 1) // 2, : (n + 1) // 2]
    a = np.triu(a) + np.triu(a, 1).T
    top = np.hstack([a, np.fliplr(a)[:, n % 2:]])
    return np.vstack([top, np.flipud(top)[n % 2:]])


def masked(a, top, left, h, w, colour):
    b = np.array(a).copy()
    b[top:top + h, left:left + w] = colour
    return b.tolist()


@pytest.mark.parametrize("name,fns", [
    ("symmetrize_lr", [np.fliplr]), ("symmetrize_ud", [np.flipud]),
    ("symmetrize_rot", [lambda a: np.rot90(a, -1), lambda a: np.rot90(a, 2), lambda a: np.rot90(a, 1)]),
    ("symmetrize_transpose", [np.transpose]),
])
def test_symmetrize(name, fns):
    g = np.array([[1, 0, 0], [2, 3, 0], [0, 0, 0]])
    want = g.copy()
    for f in fns:
        want = np.where(want == 0, f(g), want)
    out, ok = run_plain(name, [g.tolist(), [[1, 0, 2, 0]]])
    assert out[0] == want.tolist() and ok[0]
    assert ok[1] == (name in ("symmetrize_lr", "symmetrize_ud"))


def test_complete_symmetry_fit():
    p1, p2, p3 = d4_pattern(8), d4_pattern(7), d4_pattern(10)
    p3 = p3[2:, 2:]                                               # axes two cells off the centre (like 3631a71a)
    good = ([(masked(p1, 1, 2, 2, 3, 9), p1.tolist()), (masked(p2, 4, 0, 3, 2, 9), p2.tolist())],
            [masked(p3, 0, 3, 3, 2, 9)])
    bad = ([(masked(p1, 1, 2, 2, 3, 9), p1.tolist()), (masked(p2, 4, 0, 3, 2, 8), masked(p2, 0, 0, 1, 1, 9))], [])
    out, ok = run_fitted("complete_symmetry_fit", [good, bad])
    assert ok[0] == [True] * 3 and out[0][:3] == [p1.tolist(), p2.tolist(), p3.tolist()]
    assert not any(ok[1])


def periodic(h, w, f):
    return [[f(i, j) for j in range(w)] for i in range(h)]


def test_pattern_continue_fit():
    p1 = periodic(9, 8, lambda i, j: [1, 2, 3, 4, 5, 6][(i % 2) * 3 + j % 3])
    p2 = periodic(7, 9, lambda i, j: (i % 3) + 2 * (j % 2) + 1)
    p3 = periodic(7, 7, lambda i, j: [2, 8, 3][(i + j) % 3])        # diagonal stripes: a sheared lattice
    good = ([(masked(p1, 2, 2, 3, 3, 0), p1), (masked(p2, 0, 5, 2, 4, 0), p2)],
            [masked(p3, 1, 1, 5, 5, 0)])
    bad = ([(masked(p1, 2, 2, 3, 3, 0), p1), (masked(p2, 0, 5, 2, 4, 7), p2)], [])
    out, ok = run_fitted("pattern_continue_fit", [good, bad])
    assert ok[0] == [True] * 3 and out[0] == [p1, p2, p3]
    assert not any(ok[1])


def test_crop_hidden_fit():
    p1, p2 = d4_pattern(8), d4_pattern(9)
    p3 = periodic(6, 7, lambda i, j: (2 * i + j) % 4 + 1)          # not symmetric: filled by its period
    good = ([(masked(p1, 0, 1, 2, 3, 0), p1[0:2, 1:4].tolist())],
            [masked(p2, 5, 5, 3, 2, 0), masked(p3, 1, 1, 2, 2, 0)])
    bad = ([(masked(p1, 0, 1, 2, 3, 0), p1[0:2, 1:4].tolist()), (masked(p2, 5, 5, 3, 2, 6), [[0]])], [])
    out, ok = run_fitted("crop_hidden_fit", [good, bad])
    assert ok[0] == [True] * 3
    assert out[0][1:] == [p2[5:8, 5:7].tolist(), np.array(p3)[1:3, 1:3].tolist()]
    assert not any(ok[1])


def test_extend_pattern_fit():
    row = lambda w: [[0] * w, [2, 3, 3] * (w // 3) + [2, 3, 3][: w % 3], [0] * w]
    stair = lambda h: periodic(h, 10, lambda i, j: int(i <= j <= i + 2 if i % 2 == 0 else j == i + 1))
    alt = lambda w: [[0] * w, [1, 4] * (w // 2), [0] * w]
    wide = ([(row(7), row(14)), (row(6), row(12))], [alt(6), row(5)])  # width doubles: continue to the right
    line = [[0, 0, 0, 4, 0, 0, 0, 0, 0, 0]] * 2
    tall = ([(stair(6), stair(10))], [line, [[0, 4, 0]] * 2])      # fixed 10 x 10 output: a drifting staircase
    bad = ([(row(7), row(14)), (row(6), row(18))], [])
    out, ok = run_fitted("extend_pattern_fit", [wide, tall, bad])
    assert ok[0] == [True] * 4 and out[0][2] == alt(12)
    assert out[0][3] == row(10)                  # 2 3 3 2 3: a period of 3 that the last two cells confirm
    assert ok[1][:3] == [True, True, False] and out[1][:2] == [stair(10), line * 5]   # 3 columns: no repeat to widen
    assert not any(ok[2])


def test_no_host_reads():
    p = d4_pattern(6)
    g, demos = make_tasks([([(masked(p, 0, 0, 2, 2, 9), p.tolist())], [masked(p, 2, 2, 2, 2, 9)]),
                           ([([[1, 2, 1, 2]], [[1, 2, 1, 2, 1, 2, 1, 2]]), ([[0]], [[0]])], [])])
    for prim in PRIMITIVES:
        if prim.family == "symmetry":
            with HostReadGuard("error"):
                apply_primitive(prim, g, demos)
