"""Completing primitives: empty squares marked, four-fold mirror about a marker."""
from dsl_helpers import run_fit, text


def test_fill_empty_squares_fit_marks_cells_under_empty_squares_of_the_fitted_side():
    a = text("5005",
             "5005",
             "0505",
             "5555")
    a_out = text("5225",
                 "5225",
                 "0505",                     # a lone 0 and a 2 x 1 run are under no empty 2 x 2 square
                 "5555")
    b = text("00050",
             "00050",
             "55550")
    b_out = text("22250",
                 "22250",
                 "55550")                      # a 1-wide column of 0s stays
    test = text("000",
                "000",
                "505")
    out, ok = run_fit("fill_empty_squares_fit", [[(a, a_out), (b, b_out), (test, None)]])
    assert ok == [True, True, True]
    assert out[2] == text("222", "222", "505")
    three = text("00055",
                 "00055",
                 "00055",
                 "55500",
                 "55500")
    three_out = text("22255",
                     "22255",
                     "22255",
                     "55500",                   # the 2 x 2 hole stays: the side is 3
                     "55500")
    out, ok = run_fit("fill_empty_squares_fit", [[(three, three_out), (b, None)]])
    assert ok == [True, True] and out[1] == b
    out, _ = run_fit("fill_empty_squares_fit", [[(a, a_out), (three, three_out), (test, None)]])
    assert out[0] != a_out or out[1] != three_out   # no side reproduces both demos


def test_mirror4_about_colour_fit_completes_the_grid_about_the_marker():
    a = text("22000",
             "20000",
             "00300",
             "00000",
             "00000")
    a_out = text("22022",
                 "20002",
                 "00300",
                 "20002",
                 "22022")
    test = text("010000",
                "000000",
                "003300",
                "003300",
                "000000",
                "000000")
    out, ok = run_fit("mirror4_about_colour_fit", [[(a, a_out), (test, None)]])
    assert ok == [True, True]
    assert out[1] == text("010010",                      # the 2 x 2 marker's centre is a cell corner
                          "000000",
                          "003300",
                          "003300",
                          "000000",
                          "010010")
