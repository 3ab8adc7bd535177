"""Nearest-colour primitives: cells of the fitted colour take the colour of the nearest other non-background cell."""
from dsl_helpers import run_fit, text


def test_recolour_by_nearest_fit_takes_the_nearest_colour_by_city_block_distance():
    a = text("1000002",
             "1030002",
             "1000302",
             "1000002")
    a_out = text("1000002",
                 "1010002",
                 "1000202",                 # column 4: 4 steps from 1, 2 steps from 2
                 "1000002")
    b = text("4444",
             "0300",
             "0000",
             "0030",
             "7777")
    b_out = text("4444",
                 "0400",
                 "0000",
                 "0070",
                 "7777")
    test = text("50008",
                "03030",
                "00000")
    out, ok = run_fit("recolour_by_nearest_fit", [[(a, a_out), (b, b_out), (test, None)]])
    assert ok == [True, True, True]
    assert out[:2] == [a_out, b_out]
    # (1, 1): 2 steps from the 5 at (0, 0), 4 from the 8; (1, 3): 4 steps from 5, 2 from 8
    assert out[2] == text("50008", "05080", "00000")


def test_recolour_by_nearest_fit_refuses_a_tie_between_two_colours():
    a = text("1030002")
    a_out = text("1010002")
    tie = text("1003002")                         # the 3 is 3 steps from the 1 and 3 steps from the 2
    out, ok = run_fit("recolour_by_nearest_fit", [[(a, a_out), (tie, None)]])
    assert ok == [True, False]                    # the demo is fine; the tied grid gets no answer


def test_recolour_by_nearest_fit_needs_one_changed_colour_in_the_demos():
    a = text("1030002",
             "0004000")
    a_out = text("1010002",
                 "0002000")                    # 3 and 4 both change: no single colour to recolour
    out, ok = run_fit("recolour_by_nearest_fit", [[(a, a_out)]])
    assert ok == [False]
