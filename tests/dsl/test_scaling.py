"""Scaling primitives on small hand-made grids."""
import numpy as np
import pytest
from test_geometry import make_tasks, run_fitted, run_plain  # shared task builders (tests/dsl is on sys.path)

from topas_lit.callbacks.sync_guard import HostReadGuard
from topas_lit.modules.dsl import PRIMITIVES
from topas_lit.modules.dsl.registry import apply_primitive

A = [[1, 2], [3, 0]]
B = [[4, 5, 6]]
C = [[1, 0, 2], [0, 3, 0]]


def up(a, fy, fx):
    return np.kron(np.array(a), np.ones((fy, fx), dtype=int)).tolist()


def test_upscale_fit():
    good = ([(A, up(A, 2, 3)), (B, up(B, 2, 3))], [C])
    bad = ([(A, up(A, 2, 2)), (B, up(B, 3, 3))], [C])
    odd = ([(C, [[0] * 4] * 3)], [A])                              # 2x3 -> 3x4 is no integer ratio
    out, ok = run_fitted("upscale_fit", [good, bad, odd])
    assert ok[0] == [True] * 3 and out[0][2] == up(C, 2, 3)
    assert not any(ok[1]) and not any(ok[2])


def test_upscale_ncol():
    out, ok = run_plain("upscale_ncol", [A, [[0, 7]], [[1, 2, 3]]])
    assert out[0] == up(A, 3, 3) and out[2] == up([[1, 2, 3]], 3, 3)
    assert ok == [True, False, True]


def test_resize_fit():
    good = ([(A, up(A, 3, 3)), ([[5]], up([[5]], 6, 6))], [[[1, 2, 3], [4, 5, 6], [7, 8, 9]], [[1] * 4] * 4])
    bad = ([(A, up(A, 2, 2)), ([[5]], up([[5]], 3, 3))], [B])      # outputs differ in size
    out, ok = run_fitted("resize_fit", [good, bad])
    assert ok[0] == [True, True, True, False]                      # 4x4 does not divide 6x6
    assert out[0][2] == up([[1, 2, 3], [4, 5, 6], [7, 8, 9]], 2, 2)
    assert not any(ok[1])


def test_downscale_fit():
    big = [[1, 1, 2, 0], [1, 5, 2, 2], [0, 0, 3, 3], [0, 3, 3, 3]]
    small = [[1, 2], [0, 3]]
    test = [[4, 4, 5, 4, 0, 0], [4, 0, 5, 5, 0, 1]]
    good = ([(big, small)], [test])
    bad = ([(big, small), (test, [[4, 0]])], [])                     # 2x2 blocks, then 2x3 blocks
    out, ok = run_fitted("downscale_fit", [good, bad])
    assert ok[0] == [True, True] and out[0][1] == [[4, 5, 0]]
    assert not any(ok[1])


def test_tile_and_untile_fit():
    good = ([(A, np.tile(A, (1, 3)).tolist())], [C])
    bad = ([(A, np.tile(A, (1, 3)).tolist()), (B, np.tile(B, (2, 1)).tolist())], [C])
    out, ok = run_fitted("tile_fit", [good, bad])
    assert ok[0][:2] == [True, True] and out[0][1] == np.tile(C, (1, 3)).tolist()
    assert not any(ok[1])
    good = ([(np.tile(A, (1, 2)).tolist(), A)], [[[1, 2, 3, 1, 2, 3]], [[1, 2, 3]]])
    out, ok = run_fitted("untile_fit", [good])
    assert ok[0] == [True, True, False] and out[0][1] == [[1, 2, 3]]


def test_mirror_tile_fit():
    a, c = np.array(A), np.array(C)
    # 3 x 2 tiling whose top-left tile is the left-right mirror (the phase is fitted)
    tiling = lambda g: np.vstack([np.hstack([np.fliplr(g), g]), np.hstack([np.fliplr(g[::-1]), g[::-1]]),
                                  np.hstack([np.fliplr(g), g])]).tolist()
    good = ([(A, tiling(a))], [C])
    bad = ([(A, np.hstack([a, np.fliplr(a)]).tolist()), (C, np.hstack([np.fliplr(c), c]).tolist())], [])
    out, ok = run_fitted("mirror_tile_fit", [good, bad])
    assert ok[0] == [True, True] and out[0][1] == tiling(c)
    assert not any(ok[1])


@pytest.mark.parametrize("name,fn", [
    ("mirror_tile", lambda g: np.vstack([np.hstack([g, np.fliplr(g)]), np.hstack([np.flipud(g), np.rot90(g, 2)])])),
    ("mirror_right", lambda g: np.hstack([g, np.fliplr(g)])), ("mirror_left", lambda g: np.hstack([np.fliplr(g), g])),
    ("mirror_down", lambda g: np.vstack([g, np.flipud(g)])), ("mirror_up", lambda g: np.vstack([np.flipud(g), g])),
])
def test_fixed_tilings(name, fn):
    out, ok = run_plain(name, [A, C])
    assert out == [fn(np.array(A)).tolist(), fn(np.array(C)).tolist()] and all(ok)


def test_tile_rot4():
    g = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    want = np.vstack([np.hstack([g, np.rot90(g, -1)]), np.hstack([np.rot90(g, 1), np.rot90(g, 2)])]).tolist()
    out, ok = run_plain("tile_rot4", [g.tolist(), C])
    assert out[0] == want and ok == [True, False]


def kron(g, sel):
    g = np.array(g)
    return np.kron(sel(g).astype(int), g).tolist()


def test_kron():
    g = [[0, 7, 0], [7, 7, 2], [0, 0, 0]]
    out, ok = run_plain("kron_self", [g, [[0, 0]]])
    assert out[0] == kron(g, lambda x: x != 0) and ok == [True, False]
    out, ok = run_plain("kron_major", [g])
    assert out[0] == kron(g, lambda x: x == 0) and ok == [True]


def test_kron_colour_fit():
    g1, g2, t = [[1, 2], [2, 0]], [[2, 1], [1, 1]], [[2, 2, 1]]
    good = ([(g1, kron(g1, lambda x: x == 2)), (g2, kron(g2, lambda x: x == 2))], [t])
    bad = ([(g1, kron(g1, lambda x: x == 2)), (g2, kron(g2, lambda x: x == 1))], [t])
    out, ok = run_fitted("kron_colour_fit", [good, bad])
    assert ok[0] == [True] * 3 and out[0][2] == kron(t, lambda x: x == 2)
    assert not any(ok[1])


def test_no_host_reads():
    g, demos = make_tasks([([(A, up(A, 2, 2))], [C]), ([(C, np.tile(C, (2, 1)).tolist()), (B, B)], [[[3]]])])
    for prim in PRIMITIVES:
        if prim.family == "scaling":
            with HostReadGuard("error"):
                apply_primitive(prim, g, demos)
