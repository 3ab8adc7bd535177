import random

import pytest
import torch

from topas_lit.callbacks.sync_guard import HostReadGuard
from topas_lit.data.tensors import pad_grids
from topas_lit.modules.dsl.components import ITERS, NONE, components, label_components, pick
from topas_lit.modules.dsl.registry import GridBatch

S = 30
MODES = [(d, m) for d in (False, True) for m in (False, True)]


def bfs_labels(grid, diag, multi):
    """Reference: smallest flat index per component (NONE on background), by BFS on nested lists."""
    h, w = len(grid), len(grid[0])
    dirs = [(-1, 0), (1, 0), (0, -1), (0, 1)] + ([(-1, -1), (-1, 1), (1, -1), (1, 1)] if diag else [])
    lab = [[NONE] * S for _ in range(S)]
    for i in range(h):
        for j in range(w):
            if grid[i][j] and lab[i][j] == NONE:
                lab[i][j], stack = i * S + j, [(i, j)]
                while stack:
                    a, b = stack.pop()
                    for dr, dc in dirs:
                        x, y = a + dr, b + dc
                        if 0 <= x < h and 0 <= y < w and grid[x][y] and lab[x][y] == NONE and \
                                (multi or grid[x][y] == grid[a][b]):
                            lab[x][y] = i * S + j
                            stack.append((x, y))
    return lab


def spiral():
    """A one-cell-wide path spiralling inwards from the corner, with one-cell gaps (~450 cells long)."""
    g = [[0] * S for _ in range(S)]
    r = c = d = 0
    g[0][0] = 1
    steps = ((0, 1), (1, 0), (0, -1), (-1, 0))
    while True:
        for _ in range(2):
            dr, dc = steps[d]
            nr, nc, ar, ac = r + dr, c + dc, r + 2 * dr, c + 2 * dc
            if 0 <= nr < S and 0 <= nc < S and not g[nr][nc] and not (0 <= ar < S and 0 <= ac < S and g[ar][ac]):
                g[nr][nc], r, c = 1, nr, nc
                break
            d = (d + 1) % 4
        else:
            return g


def snake():
    g = [[1 if i % 2 == 0 else 0 for _ in range(S)] for i in range(S)]
    for i in range(1, S, 2):
        g[i][S - 1 if (i // 2) % 2 == 0 else 0] = 1
    return g


def maze(seed):
    """A random spanning tree of corridors (depth-first, mostly long branches)."""
    rnd, g = random.Random(seed), [[0] * S for _ in range(S)]
    stack = [(0, 0)]
    g[0][0] = 1
    while stack:
        r, c = stack[-1]
        nb = [(r + dr, c + dc) for dr, dc in ((0, 2), (2, 0), (0, -2), (-2, 0))
              if 0 <= r + dr < S and 0 <= c + dc < S and not g[r + dr][c + dc]]
        if not nb:
            stack.pop()
            continue
        a, b = rnd.choice(nb)
        g[a][b] = g[(a + r) // 2][(b + c) // 2] = 1
        stack.append((a, b))
    return g


def hilbert():
    """An order-4 Hilbert curve on every other cell (clipped to 30x30)."""
    pts = []
    for d in range(256):
        x = y = 0
        t, s = d, 1
        while s < 16:
            rx = 1 & (t // 2)
            ry = 1 & (t ^ rx)
            if ry == 0:
                if rx == 1:
                    x, y = s - 1 - x, s - 1 - y
                x, y = y, x
            x, y, t, s = x + s * rx, y + s * ry, t // 4, s * 2
        pts.append((x, y))
    g = [[0] * S for _ in range(S)]
    for (a, b), (c, d) in zip(pts, pts[1:]):
        if max(a, b, c, d) < 15:
            g[2 * a][2 * b] = g[2 * c][2 * d] = g[a + c][b + d] = 1
    return g


def worst_cases():
    base = [spiral(), snake(), hilbert()] + [maze(s) for s in range(3)]
    out = []
    for b in base:
        t = torch.tensor(b)
        for k in range(4):
            out += [torch.rot90(t, k), torch.rot90(t, k).flip(1)]
    return torch.stack(out)


@pytest.mark.parametrize("diag,multi", MODES)
def test_worst_case_convergence(diag, multi):
    """Long winding components converge within ITERS - 1 iterations (one iteration of margin)."""
    cells = worst_cases()
    if multi:  # stripes of colours: only multicolour mode joins them
        cells = cells * (1 + torch.arange(S) % 3)
    ref = torch.tensor([bfs_labels(g.tolist(), diag, multi) for g in cells], dtype=torch.int32)
    fg = cells != 0
    assert (label_components(cells, fg, diag, multi, ITERS - 1) == ref).all()
    assert (label_components(cells, fg, diag, multi) == ref).all()


@pytest.mark.parametrize("diag,multi", MODES)
def test_random_grids_match_bfs(diag, multi):
    rnd = random.Random(1)
    shapes = [(rnd.randint(1, S), rnd.randint(1, S)) for _ in range(24)]
    grids = [[[rnd.choice([0, 0, 1, 2, 3]) for _ in range(w)] for _ in range(h)] for h, w in shapes]
    cells, size = pad_grids(grids)
    c = components(GridBatch(cells, size), diag, multi)
    ref = torch.tensor([bfs_labels(g, diag, multi) for g in grids], dtype=torch.int32)
    assert (c.label == ref).all()


def test_stats():
    grid = [[1, 1, 0, 0, 2],
            [0, 1, 0, 3, 2],
            [0, 0, 0, 0, 0],
            [4, 0, 5, 5, 5]]
    cells, size = pad_grids([grid])
    g = GridBatch(cells, size)
    c = components(g)  # 8-connected, same colour
    assert components(g) is c  # cached in the batch memo
    assert c.is_obj[0].nonzero().flatten().tolist() == [0, 4, 33, 90, 92]
    at = lambda t, lab: int(t[0, lab])
    assert [at(c.count, l) for l in (0, 4, 33, 90, 92)] == [3, 2, 1, 1, 3]
    assert [at(c.colour, l) for l in (0, 4, 33, 90, 92)] == [1, 2, 3, 4, 5]
    assert (at(c.top, 0), at(c.left, 0), at(c.bottom, 0), at(c.right, 0)) == (0, 0, 1, 1)
    assert [at(c.border, l) for l in (0, 4, 33, 90, 92)] == [1, 1, 0, 1, 1]
    assert [at(c.rank, l) for l in (0, 92, 4, 33, 90)] == [0, 1, 2, 3, 4]  # ties: reading order
    assert int(c.n_obj[0]) == 5
    m = components(g, diag=True, multi=True)
    assert int(m.n_obj[0]) == 4  # {1s}, {2s, 3} (3 touches the 2s), {4}, {5s}
    lab = int(m.label[0, 0, 4])
    assert at(m.count, lab) == 3 and at(m.ncol, lab) == 2 and at(m.colour, lab) == 2
    assert int(m.colcount[0, 3, lab]) == 1
    lab_big, ok = pick(c, c.count)
    assert not bool(ok[0])  # tie between the 1s and the 5s


def test_no_host_reads():
    cells, size = pad_grids([snake(), [[1, 0], [0, 2]]])
    with HostReadGuard("error"):
        g = GridBatch(cells, size)
        for diag, multi in MODES:
            c = components(g, diag, multi)
            c.rank, c.colcount, c.cell(c.count)
