"""Lookup primitives: the output of the demo whose input shares a key (colour, colour count, object count, shape,
symmetry); not ok on conflicting demos or an unseen key."""
from dsl_helpers import run_fit

A = [[1, 1, 0], [0, 0, 0]]
B = [[0, 2, 0], [2, 0, 0]]
OUT_A, OUT_B = [[5, 5], [5, 5]], [[7]]


A2, B2 = [[0, 1]], [[2, 2, 0]]                       # the same colours as A and B: two demos per key


def test_output_by_colour():
    demos = [(A, OUT_A), (B, OUT_B), (A2, OUT_A), (B2, OUT_B)]
    out, ok = run_fit("output_by_colour_fit", [demos + [([[0, 0], [0, 2]], None)]])
    assert all(ok) and out[4] == OUT_B
    _, ok = run_fit("output_by_colour_fit", [demos + [([[3]], None)]])                    # colour 3 unseen
    assert ok == [True] * 4 + [False]
    _, ok = run_fit("output_by_colour_fit", [demos[:3] + [([[1]], OUT_B), (B, None)]])    # 1 -> two outputs
    assert not any(ok)
    _, ok = run_fit("output_by_colour_fit", [[(A, OUT_A), (B, OUT_B), (B2, None)]])        # no key seen twice
    assert not any(ok)


def test_output_by_counts_shape_and_symmetry():
    two = [[1, 0, 2]]
    out, ok = run_fit("output_by_colour_count_fit", [[(A, OUT_A), (two, OUT_B), (B, OUT_A), ([[3, 4, 0]], None)]])
    assert all(ok) and out[3] == OUT_B
    two_a, two_b = [[1, 0, 1]], [[0, 5, 0, 5]]
    out, ok = run_fit("output_by_object_count_fit", [[(A, OUT_A), (two_a, OUT_B), (two_b, OUT_B),
                                                      ([[3, 0, 0, 3]], None)]])
    assert all(ok) and out[3] == OUT_B                                   # two objects, like the 2nd and 3rd demos
    out, ok = run_fit("output_by_shape_fit", [[(A, OUT_A), (B, OUT_B), ([[7, 7]], OUT_A),
                                               ([[0, 0, 0], [0, 4, 4]], None)]])
    assert all(ok) and out[3] == OUT_A                                   # A's shape, moved and recoloured
    sym = [[1, 2, 1]]
    out, ok = run_fit("output_by_symmetry_fit", [[(sym, OUT_A), ([[1, 2, 2]], OUT_B), ([[4]], OUT_A),
                                                  ([[3, 0, 3]], None)]])
    assert all(ok) and out[3] == OUT_A
