"""Split family: halves combined cell-wise, and panels separated by lines (or square blocks)."""

from topas_lit.callbacks.sync_guard import HostReadGuard
from topas_lit.data.tensors import pad_grids
from topas_lit.modules.dsl import PRIMITIVES
from topas_lit.modules.dsl.registry import GridBatch, apply_primitive

from dsl_helpers import one_task, run_plain
from dsl_helpers import run_task as run
from topas_lit.modules.dsl.split import panels

# left | 5 | right, each 2 x 2
SEP = [[1, 0, 5, 1, 1],
       [0, 1, 5, 0, 0]]
HALF = [[1, 0, 0, 1],    # no separator: even width, halves [[1,0],[0,0]] and [[0,1],[1,1]]
        [0, 0, 1, 1]]


def test_split_lr_ops():
    cases = {
        "and": ([[3, 0], [0, 0]], [[0, 0], [0, 0]]),
        "or": ([[3, 3], [0, 3]], [[3, 3], [3, 3]]),
        "xor": ([[0, 3], [0, 3]], [[3, 3], [3, 3]]),
        "nor": ([[0, 0], [3, 0]], [[0, 0], [0, 0]]),
        "diff": ([[0, 0], [0, 3]], [[3, 0], [0, 0]]),
    }
    for op, (want_sep, want_half) in cases.items():
        out, ok = run(f"split_lr_{op}_fit", [(SEP, want_sep)], tests=[HALF])
        assert out == [want_sep, want_half] and all(ok), op


def test_split_ud_and_fit_inconsistent():
    top_bottom = [[1, 1], [0, 1], [2, 2], [1, 0], [0, 1]]  # odd height, middle row of 2 = separator
    out, ok = run("split_ud_and_fit", [(top_bottom, [[4, 0], [0, 4]])])
    assert out[0] == [[4, 0], [0, 4]] and ok == [True]
    bad = [(top_bottom, [[4, 0], [0, 4]]), ([[1], [1]], [[6]])]
    assert run("split_ud_and_fit", bad)[1] == [False, False]


def test_split_needs_middle_separator():
    odd = [[1, 0, 0], [0, 1, 0]]  # odd width, middle column is not a separator
    assert run("split_lr_or_fit", [(odd, [[1], [1]])])[1] == [False]


def test_split_overlay():
    out, ok = run_plain("split_lr_overlay", [SEP, HALF])
    assert out == [[[1, 1], [0, 1]], [[1, 1], [1, 1]]] and ok == [True, True]
    out, ok = run_plain("split_ud_overlay", [[[0, 2], [5, 5], [3, 3]]])
    assert out == [[[3, 2]]] and ok == [True]


# 2 x 3 panels of 2 x 2 separated by lines of 8
def grid_of(p):
    """Assemble panels p[a][b] (2 x 2 each) with separator lines of colour 8."""
    rows = []
    for a, prow in enumerate(p):
        if a:
            rows.append([8] * (3 * len(prow) - 1))
        for i in range(2):
            line = []
            for b, q in enumerate(prow):
                if b:
                    line.append(8)
                line += q[i]
            rows.append(line)
    return rows


A = [[1, 0], [0, 1]]
B = [[2, 2], [0, 0]]
Z = [[0, 0], [0, 0]]


def test_panel_layout():
    g = GridBatch(*pad_grids([grid_of([[A, Z, Z], [Z, B, Z]]), [[1, 2, 3, 4, 5, 6]], [[1, 2], [3, 4]]]))
    p = panels(g)
    assert p.n_rows.tolist()[:2] == [2, 1] and p.n_cols.tolist()[:2] == [3, 6]  # second: six 1x1 blocks
    assert p.valid.tolist() == [True, True, False]


def test_panel_select():
    grid = grid_of([[Z, A, Z], [Z, Z, Z]])
    assert run_plain("panel_odd", [grid]) == ([A], [True])
    assert run_plain("panel_most", [grid]) == ([A], [True])
    assert run_plain("panel_first", [grid]) == ([Z], [True])
    assert run_plain("panel_last", [grid]) == ([Z], [True])
    assert run_plain("panel_least", [grid])[1] == [False]  # five empty panels tie
    c3 = [[3, 3], [3, 0]]
    assert run_plain("panel_least", [grid_of([[c3, A, c3]])]) == ([A], [True])
    # odd one out by shape: same shapes in different colours, one different shape
    c = [[3, 0], [0, 3]]
    assert run_plain("panel_odd", [grid_of([[A, c, B]])]) == ([B], [True])
    assert run_plain("panel_odd", [grid_of([[A, B]])])[1] == [False]  # two panels: no odd one


def test_background_separator_only_as_fallback():
    # background 1, separator lines of 0 (the background colour BG): used since no other colour qualifies
    grid = [[1, 1, 0, 1, 1], [1, 2, 0, 1, 1], [0, 0, 0, 0, 0], [1, 1, 0, 1, 1], [1, 1, 0, 1, 1]]
    assert run_plain("panel_odd", [grid]) == ([[[1, 1], [1, 2]]], [True])
    # empty rows between objects are no panels when a coloured separator exists
    framed = grid_of([[A, Z, Z], [Z, Z, Z]])
    p = panels(GridBatch(*pad_grids([framed])))
    assert p.n_rows.tolist() == [2] and p.n_cols.tolist() == [3]


def test_square_blocks_without_separator():
    grid = [[1, 1, 0, 2, 1, 1], [1, 1, 0, 0, 1, 1]]  # three 2x2 blocks, the middle one odd
    assert run_plain("panel_odd", [grid]) == ([[[0, 2], [0, 0]]], [True])


def test_panels_overlay_and_pixels():
    grid = grid_of([[A, Z], [B, Z]])
    assert run_plain("panels_overlay", [grid]) == ([[[1, 2], [0, 1]]], [True])
    solid = grid_of([[[[4, 4], [4, 4]], Z, Z], [Z, Z, [[6, 6], [6, 0]]]])
    assert run_plain("panels_to_pixels", [solid]) == ([[[4, 0, 0], [0, 0, 6]]], [True])
    uneven = [[0, 0, 5, 3], [5, 5, 5, 5], [1, 1, 5, 0]]  # panels of different sizes
    assert run_plain("panels_to_pixels", [uneven]) == ([[[0, 3], [1, 0]]], [True])
    assert run_plain("panels_overlay", [uneven])[1] == [False]


def test_guard_all_split_primitives():
    pairs = [(SEP, [[3, 0], [0, 0]]), (grid_of([[A, Z, Z], [Z, B, Z]]), [[1, 0], [0, 1]])]
    g, demos = one_task(pairs, tests=[HALF, [[0]]])
    for prim in PRIMITIVES:
        if prim.family != "split":
            continue
        with HostReadGuard("error"):
            cells, size, ok = apply_primitive(prim, g, demos)
        assert cells.shape == (len(g), 30, 30) and ok.shape == (len(g),)
        assert (cells[ok] != 10).sum() == (size[ok].prod(1)).sum(), prim.name
