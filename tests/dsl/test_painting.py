"""Painting family: gravity, fills, outlines, rays, lines and connections on hand-made grids."""
import torch

from topas_lit.callbacks.sync_guard import HostReadGuard
from topas_lit.data.tensors import pad_grids
from topas_lit.modules.dsl import PRIMITIVES
from topas_lit.modules.dsl.grid import PAD
from topas_lit.modules.dsl.colour import DIAG, ORTHO
from topas_lit.modules.dsl.painting import FAR, _rays, bg_of, enclosed, first_hit
from topas_lit.modules.dsl.registry import GridBatch, apply_primitive

from dsl_helpers import one_task, run_plain
from dsl_helpers import run_task as run

def plain(name, grid):
    """A plain primitive on one grid: (output, ok)."""
    (out,), (ok,) = run_plain(name, [grid])
    return out, ok


G = [[1, 0, 0],
     [0, 2, 0],
     [3, 0, 4]]


def test_gravity():
    assert plain("gravity_down", G) == ([[0, 0, 0], [1, 0, 0], [3, 2, 4]], True)
    assert plain("gravity_up", G) == ([[1, 2, 4], [3, 0, 0], [0, 0, 0]], True)
    assert plain("gravity_left", G) == ([[1, 0, 0], [2, 0, 0], [3, 4, 0]], True)
    assert plain("gravity_right", G) == ([[0, 0, 1], [0, 0, 2], [0, 3, 4]], True)
    assert plain("gravity_down", [[5, 0], [6, 0], [0, 0]])[0] == [[0, 0], [5, 0], [6, 0]]  # order kept


RING = [[0, 0, 0, 0, 0],
        [0, 3, 3, 3, 0],
        [0, 3, 0, 3, 0],
        [0, 3, 3, 3, 0],
        [0, 0, 0, 0, 0]]


def test_fill_enclosed_fit():
    filled = [r[:] for r in RING]
    filled[2][2] = 4
    open_ring = [[3, 3, 3, 0], [3, 0, 0, 0], [3, 3, 3, 0]]  # leaks to the border: nothing enclosed
    two = [[3, 3, 3, 3, 3], [3, 0, 3, 0, 3], [3, 3, 3, 3, 3]]
    out, ok = run("fill_enclosed_fit", [(RING, filled), (open_ring, open_ring)], tests=[two])
    assert out[2] == [[3, 3, 3, 3, 3], [3, 4, 3, 4, 3], [3, 3, 3, 3, 3]] and all(ok)
    filled5 = [r[:] for r in RING]
    filled5[2][2] = 5
    assert run("fill_enclosed_fit", [(RING, filled), (RING, filled5)])[1] == [False, False]


def serpentine(n):
    """An n x n box open at the top whose corridors zig-zag down through (n - 1) // 2 walls."""
    grid = [[0] * n for _ in range(n)]
    for r in range(n):
        grid[r][0] = grid[r][n - 1] = 1
    for r in range(1, n - 1, 2):
        grid[r] = [1] * n
        grid[r][1 if (r // 2) % 2 else n - 2] = 0
    grid[n - 1] = [1] * n
    return grid


def test_enclosed_is_exact_on_long_mazes():
    # a serpentine corridor: every background cell reaches the border however many walls it winds past
    small, big = serpentine(15), serpentine(29)
    closed = [[1] * 29] + [row[:] for row in big[1:]]    # the top row walled: the whole corridor is a hole
    mask, conv = enclosed(GridBatch(*pad_grids([small, big])))
    assert conv.tolist() == [True, True] and not mask.any()
    mask, _ = enclosed(GridBatch(*pad_grids([closed])))
    assert mask[0, :29, :29].tolist() == [[v == 0 for v in row] for row in closed]
    assert run("fill_enclosed_fit", [(RING, [[4 if v == 0 and 0 < r < 4 and 0 < c < 4 else v
                                                for c, v in enumerate(row)] for r, row in enumerate(RING)])],
               tests=[small, big])[1] == [True, True, True]


def test_outline_and_interior():
    px = [[0, 0, 0], [0, 2, 0], [0, 0, 0]]
    out, ok = run("outline8_fit", [(px, [[1, 1, 1], [1, 2, 1], [1, 1, 1]])], tests=[[[2, 0, 0]]])
    assert out[1] == [[2, 1, 0]] and all(ok)
    out, ok = run("outline4_fit", [(px, [[0, 1, 0], [1, 2, 1], [0, 1, 0]])], tests=[[[0, 0], [0, 5]]])
    assert out[1] == [[0, 1], [1, 5]] and all(ok)
    sq = [[5, 5, 5, 0], [5, 5, 5, 0], [5, 5, 5, 0], [5, 5, 5, 0]]
    want = [[5, 5, 5, 0], [5, 8, 5, 0], [5, 8, 5, 0], [5, 5, 5, 0]]
    out, ok = run("interior_fit", [(sq, want)])
    assert out[0] == want and all(ok)
    assert plain("hollow", sq)[0] == [[5, 5, 5, 0], [5, 0, 5, 0], [5, 0, 5, 0], [5, 5, 5, 0]]
    edge = [[5, 5], [5, 5]]  # cells on the grid edge are never interior
    assert plain("hollow", edge)[0] == edge


def test_bbox_and_border_fit():
    g1 = [[0, 0, 0, 0], [0, 8, 0, 0], [0, 0, 0, 8], [0, 0, 0, 0]]
    w1 = [[0, 0, 0, 0], [0, 8, 2, 2], [0, 2, 2, 8], [0, 0, 0, 0]]
    out, ok = run("fill_bbox_fit", [(g1, w1)], tests=[[[8, 0, 8]]])
    assert out[1] == [[8, 2, 8]] and all(ok)
    out, ok = run("border_fit", [([[0] * 3] * 3, [[8] * 3, [8, 0, 8], [8] * 3])], tests=[[[0, 0]] * 2])
    assert out[1] == [[8, 8], [8, 8]] and all(ok)
    assert run("border_fit", [([[0, 0]], [[8, 8]]), ([[0, 0]], [[7, 7]])])[1] == [False, False]


def test_rays():
    g = [[0, 0, 0], [0, 4, 0], [0, 0, 0], [0, 1, 0]]
    assert plain("ray_down", g)[0] == [[0, 0, 0], [0, 4, 0], [0, 4, 0], [0, 1, 0]]
    assert plain("ray_up", g)[0] == [[0, 4, 0], [0, 4, 0], [0, 1, 0], [0, 1, 0]]
    assert plain("ray_right", g)[0] == [[0, 0, 0], [0, 4, 4], [0, 0, 0], [0, 1, 1]]
    assert plain("ray_left", g)[0] == [[0, 0, 0], [4, 4, 0], [0, 0, 0], [1, 1, 0]]
    d = [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 6, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 3]]
    d[4][4], d[4][3] = 0, 3
    assert plain("rays_diag", d)[0] == [[6, 0, 0, 0, 6], [3, 6, 0, 6, 0], [0, 3, 6, 0, 0],
                                        [0, 6, 3, 6, 3], [6, 0, 0, 3, 6]]
    assert plain("ray_down", [[0, 0]]) == ([[0, 0]], False)  # no seed


def test_first_hit_matches_brute_force():
    gen = torch.Generator().manual_seed(0)
    grids = ((torch.randint(1, 10, (6, 7, 9), generator=gen)
              * (torch.rand(6, 7, 9, generator=gen) < 0.25))).tolist()
    g = GridBatch(*pad_grids(grids))
    for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1)):
        colour, dist = first_hit(g, dr, dc, dist=True)
        for n, grid in enumerate(grids):
            for i in range(7):
                for j in range(9):
                    want, k = (-1, FAR), 1
                    while 0 <= i + k * dr < 7 and 0 <= j + k * dc < 9:
                        if grid[i + k * dr][j + k * dc]:
                            want = (grid[i + k * dr][j + k * dc], k)
                            break
                        k += 1
                    assert (int(colour[n, i, j]), int(dist[n, i, j])) == want


def test_nearest_ray_ties_go_to_the_earlier_direction():
    """_rays over several directions: the nearest source's colour, ties the earliest direction in ``looks``
    (checked against stacking every direction and taking argmin, whose first minimum is the earliest)."""
    gen = torch.Generator().manual_seed(1)
    grids = ((torch.randint(1, 10, (8, 9, 9), generator=gen)
              * (torch.rand(8, 9, 9, generator=gen) < 0.15))).tolist()
    g = GridBatch(*pad_grids(grids))
    for looks in (DIAG, ORTHO, ORTHO + DIAG):
        hits = [first_hit(g, dr, dc, dist=True) for dr, dc in looks]
        v, d = torch.stack([h[0] for h in hits]), torch.stack([h[1] for h in hits])
        want = v.gather(0, d.argmin(0, keepdim=True))[0].long()
        assert (d.amin(0) < FAR).any() and ((d == d.amin(0)).sum(0) > 1).any()   # real ties present
        mask, colour = _rays(g, looks)
        assert torch.equal(colour, want)
        assert torch.equal(mask, bg_of(g) & (want >= 0))


def test_lines():
    g = [[0, 0, 0, 0], [0, 2, 0, 0], [0, 0, 0, 0], [0, 0, 0, 5]]
    assert plain("lines_h", g)[0] == [[0, 0, 0, 0], [2, 2, 2, 2], [0, 0, 0, 0], [5, 5, 5, 5]]
    assert plain("lines_v", g)[0] == [[0, 2, 0, 5], [0, 2, 0, 5], [0, 2, 0, 5], [0, 2, 0, 5]]
    want = [[0, 2, 0, 5], [2, 2, 2, 9], [0, 2, 0, 5], [5, 9, 5, 5]]
    out, ok = run("lines_cross_fit", [(g, want)], tests=[[[0, 1], [3, 0]]])
    assert out[0] == want and out[1] == [[9, 1], [3, 9]] and all(ok)
    bad = [(g, want), ([[1, 0], [0, 3]], [[1, 4], [4, 3]])]  # crossings 9 then 4
    assert run("lines_cross_fit", bad)[1] == [False, False]


def test_connect():
    g = [[1, 0, 0, 1], [0, 0, 0, 0], [2, 0, 0, 3], [1, 0, 0, 0]]
    assert plain("connect_h", g)[0] == [[1, 1, 1, 1], [0, 0, 0, 0], [2, 0, 0, 3], [1, 0, 0, 0]]
    assert plain("connect_v", g)[0] == [[1, 0, 0, 1], [0, 0, 0, 0], [2, 0, 0, 3], [1, 0, 0, 0]]  # 2 blocks
    g2 = [[4, 0, 4], [0, 0, 0], [4, 0, 0]]
    assert plain("connect_hv", g2)[0] == [[4, 4, 4], [4, 0, 0], [4, 0, 0]]
    cross = [[0, 6, 0], [7, 0, 7], [0, 6, 0]]
    assert plain("connect_hv", cross)[0] == [[0, 6, 0], [7, 6, 7], [0, 6, 0]]  # vertical on top
    pairs = [([[8, 0, 0, 8]], [[8, 3, 3, 8]])]
    out, ok = run("connect_h_fit", pairs, tests=[[[1, 0, 1, 0, 2]]])
    assert out[1] == [[1, 3, 1, 0, 2]] and all(ok)
    out, ok = run("connect_v_fit", [([[8], [0], [8]], [[8], [3], [8]])], tests=[[[2], [0], [2]]])
    assert out[1] == [[2], [3], [2]] and all(ok)
    out, ok = run("connect_hv_fit", [([[8, 0, 8], [0, 0, 0], [8, 0, 0]], [[8, 3, 8], [3, 0, 0], [8, 0, 0]])])
    assert all(ok)
    assert run("connect_h_fit", [([[8, 0, 8]], [[8, 3, 8]]), ([[8, 0, 8]], [[8, 4, 8]])])[1] == [False, False]


def test_guard_all_painting_primitives():
    pairs = [(RING, RING), ([[1, 0, 1], [0, 0, 0]], [[1, 2, 1], [2, 2, 2]])]
    g, demos = one_task(pairs, tests=[[[0, 3], [3, 0]], [[0]]])
    for prim in PRIMITIVES:
        if prim.family != "painting":
            continue
        with HostReadGuard("error"):
            cells, size, ok = apply_primitive(prim, g, demos)
        assert cells.shape == (len(g), 30, 30) and ok.shape == (len(g),)
        assert (cells[ok] != PAD).sum() == (size[ok].prod(1)).sum(), prim.name
