"""Colour family: hand-made grids with known answers, fits (consistent / inconsistent), and the host-read guard."""
import torch

from topas_lit.callbacks.sync_guard import HostReadGuard
from topas_lit.data.tensors import pad_grids, unpad_grids
from topas_lit.modules.dsl import PRIMITIVES
from topas_lit.modules.dsl.grid import PAD
from topas_lit.modules.dsl.registry import DemoTargets, GridBatch, apply_primitive

BY_NAME = {p.name: p for p in PRIMITIVES}


def batch(tasks):
    """tasks: list of (demo pairs [(in, out)], test inputs). Returns GridBatch, DemoTargets (M tasks x G slots);
    test and padding slots get a junk target that would break any fit reading it."""
    g = max(len(p) + len(t) for p, t in tasks)
    ins, outs, has, exists = [], [], [], []
    for pairs, tests in tasks:
        pad = g - len(pairs) - len(tests)
        ins += [i for i, _ in pairs] + list(tests) + [[[0]]] * pad
        outs += [o for _, o in pairs] + [[[7] * 3] * 3] * (len(tests) + pad)
        has += [True] * len(pairs) + [False] * (len(tests) + pad)
        exists += [True] * (len(pairs) + len(tests)) + [False] * pad
    ci, si = pad_grids(ins)
    co, so = pad_grids(outs)
    m = len(tasks)
    demos = DemoTargets(co.view(m, g, 30, 30), so.view(m, g, 2), torch.tensor(has).view(m, g),
                        torch.tensor(exists).view(m, g))
    return GridBatch(ci, si), demos


def run(name, pairs, tests=()):
    """One task through one primitive: (output grids of all its slots, ok per slot)."""
    g, demos = batch([(pairs, tests)])
    cells, size, ok = apply_primitive(BY_NAME[name], g, demos)
    return unpad_grids(cells, size), ok.tolist()


def run_plain(name, grids):
    g = GridBatch(*pad_grids(grids))
    cells, size, ok = apply_primitive(BY_NAME[name], g, None)
    return unpad_grids(cells, size), ok.tolist()


def test_colour_map_fit():
    pairs = [([[1, 2], [0, 1]], [[3, 2], [0, 3]]), ([[2, 5]], [[2, 6]])]
    out, ok = run("colour_map_fit", pairs, tests=[[[5, 1, 4]]])
    assert ok == [True, True, True]
    assert out == [[[3, 2], [0, 3]], [[2, 6]], [[6, 3, 4]]]  # 4 unseen -> itself


def test_colour_map_fit_inconsistent_and_size():
    bad = [([[1, 1]], [[3, 3]]), ([[1]], [[4]])]
    assert run("colour_map_fit", bad, tests=[[[1]]])[1] == [False] * 3
    resized = [([[1, 1]], [[3]])]
    assert run("colour_map_fit", resized)[1] == [False]
    identity = [([[1, 2]], [[1, 2]])]
    assert run("colour_map_fit", identity)[1] == [False]


def test_colour_map_fit_candidates_independent():
    g, demos = batch([([([[1]], [[2]])], [[[1, 1]]]), ([([[1]], [[3]]), ([[2]], [[2]])], [])])
    cells, size, ok = apply_primitive(BY_NAME["colour_map_fit"], g, demos)
    out = unpad_grids(cells, size)
    assert out[:2] == [[[2]], [[2, 2]]] and out[2:4] == [[[3]], [[2]]]
    assert ok.tolist() == [True, True, True, True]


def test_keep_most_least_common():
    grid = [[1, 1, 1], [2, 2, 3], [0, 0, 0]]
    out, ok = run_plain("keep_colour_most_common", [grid, [[1, 2]]])
    assert out[0] == [[1, 1, 1], [0, 0, 0], [0, 0, 0]] and ok == [True, False]  # tie -> not ok
    out, ok = run_plain("keep_colour_least_common", [grid])
    assert out[0] == [[0, 0, 0], [0, 0, 3], [0, 0, 0]] and ok == [True]


def test_remove_and_keep_colour_fit():
    pairs = [([[1, 2], [3, 0]], [[1, 0], [3, 0]]), ([[2, 1]], [[0, 1]])]
    out, ok = run("remove_colour_fit", pairs, tests=[[[2, 5, 1]]])
    assert out[2] == [[0, 5, 1]] and all(ok)
    out, ok = run("keep_colour_fit", pairs, tests=[[[2, 5, 1]]])
    assert out[2] == [[0, 0, 1]] and all(ok)
    assert run("remove_colour_fit", [([[1]], [[1]])])[1] == [False]  # nothing disappears: no-op


def test_fill_bg_and_recolour_fit():
    pairs = [([[0, 1], [2, 0]], [[4, 1], [2, 4]])]
    out, ok = run("fill_bg_fit", pairs, tests=[[[3, 0]]])
    assert out[1] == [[3, 4]] and all(ok)
    assert run("fill_bg_fit", [([[0]], [[4]]), ([[0]], [[5]])])[1] == [False, False]
    pairs = [([[0, 1], [2, 0]], [[0, 5], [5, 0]])]
    out, ok = run("recolour_nonbg_fit", pairs, tests=[[[3, 0, 7]]])
    assert out[1] == [[5, 0, 5]] and all(ok)
    assert run("recolour_nonbg_fit", [([[1]], [[4]]), ([[2]], [[5]])])[1] == [False, False]


def test_recolour_minority_fit():
    pairs = [([[3, 3, 1], [3, 2, 3]], [[3, 3, 5], [3, 5, 3]])]
    out, ok = run("recolour_minority_fit", pairs, tests=[[[4, 4, 0]]])
    assert out[1] == [[4, 4, 5]] and all(ok)
    assert run("recolour_minority_fit", [([[3, 1]], [[5, 1]])])[1] == [False]  # tie for most common


def test_swap_invert():
    out, ok = run_plain("swap_top2_colours", [[[1, 1, 2, 0]], [[1, 2, 3, 3]]])
    assert out[0] == [[2, 2, 1, 0]] and ok == [True, False]
    out, ok = run_plain("invert_binary", [[[0, 4], [4, 4]], [[1, 2]]])
    assert out[0] == [[4, 0], [0, 0]] and ok == [True, False]


def test_one_by_one_and_summaries():
    grid = [[1, 1, 2], [0, 1, 3], [3, 0, 0]]
    assert run_plain("majority_colour_1x1", [grid]) == ([[[1]]], [True])
    assert run_plain("minority_colour_1x1", [grid]) == ([[[2]]], [True])
    assert run_plain("fill_majority", [grid])[1] == [False]  # 0 and 1 tie
    assert run_plain("fill_majority", [[[5, 5], [5, 2]]]) == ([[[5, 5], [5, 5]]], [True])
    assert run_plain("count_to_row", [[[0, 6], [6, 0]]]) == ([[[6, 6]]], [True])
    assert run_plain("count_to_row", [grid])[1] == [False]
    out, ok = run_plain("colours_by_count", [[[2, 2, 2], [3, 0, 8], [8, 0, 0]], [[1, 2]]])
    assert out[0] == [[2], [8], [3]] and ok == [True, False]


def test_local_maps():
    # interior of a plus / square: a cell with four non-background 4-neighbours turns 2
    square = [[1, 1, 1], [1, 1, 1], [1, 1, 1]]
    pairs = [(square, [[1, 1, 1], [1, 2, 1], [1, 1, 1]])]
    out, ok = run("local_map_count4_fit", pairs, tests=[[[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]]])
    assert out[1] == [[1, 1, 1, 1], [1, 2, 2, 1], [1, 1, 1, 1]] and all(ok)
    # an unseen key in the test slot: strict, not ok
    out, ok = run("local_map_count4_fit", pairs, tests=[[[1, 0]]])
    assert ok == [True, False]
    # outline of colour 2 pixels only (colour8): background next to 2 -> 4, next to 3 stays
    pairs = [([[0, 0, 0], [0, 2, 0], [0, 0, 0]], [[4, 4, 4], [4, 2, 4], [4, 4, 4]]),
             ([[3, 0, 0], [0, 0, 0]], [[3, 0, 0], [0, 0, 0]])]
    out, ok = run("local_map_colour8_fit", pairs, tests=[[[2, 0, 0, 3]]])
    assert out[2] == [[2, 4, 0, 3]] and all(ok)
    mask_pairs = [([[0, 0], [0, 1]], [[0, 5], [6, 1]])]  # above -> 5, left -> 6 (mask4 tells them apart)
    out, ok = run("local_map_mask4_fit", mask_pairs, tests=[[[0, 0, 0], [0, 0, 1]]])
    assert out[1] == [[0, 0, 5], [0, 6, 1]] and all(ok)
    assert run("local_map_mask4_fit", mask_pairs, tests=[[[1, 0, 1]]])[1] == [True, False]  # unseen: 1 left+right
    bad = [([[0, 1]], [[2, 1]]), ([[0, 1]], [[3, 1]])]
    assert run("local_map_mask8_fit", bad)[1] == [False, False]
    stamp = [([[0, 0, 0], [0, 2, 0], [0, 0, 0]], [[1, 0, 3], [0, 0, 0], [4, 0, 6]])]  # corners by position
    out, ok = run("local_map_mask8_fit", stamp, tests=[[[0, 0, 0, 0], [0, 2, 0, 0], [0, 0, 0, 0]]])
    assert out[0] == stamp[0][1] and ok == [True, False]  # test slot: (0, 3) has an unseen neighbourhood


def test_guard_all_colour_primitives():
    g, demos = batch([([([[1, 0], [2, 2]], [[3, 0], [2, 2]])], [[[1, 1, 0]]]),
                      ([([[0, 5]], [[4, 5]]), ([[5, 5, 0]], [[5, 5, 4]])], [])])
    for prim in PRIMITIVES:
        if prim.family != "colour":
            continue
        with HostReadGuard("error"):
            cells, size, ok = apply_primitive(prim, g, demos)
        assert cells.shape == (len(g), 30, 30) and ok.shape == (len(g),)
        inside = torch.zeros_like(cells, dtype=torch.bool)
        for n, (h, w) in enumerate(size.tolist()):
            inside[n, :h, :w] = True
        assert ((cells == PAD) == ~inside)[ok].all(), prim.name
