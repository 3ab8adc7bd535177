"""Panel primitives: every panel drawn from the fullest one through a transform fitted per panel position."""
from dsl_helpers import run_fit, text


def test_panels_transformed_fit_turns_each_panel_by_its_own_fitted_transform():
    a = text("12500500",
             "34500500")
    a_out = text("12521543",                  # panel 1: the source mirrored left-right, panel 2: turned 180
                 "34543521")
    b = text("67500500",
             "89500500")
    b_out = text("67576598",
                 "89598576")
    test = text("11500500",
                "02500500")
    out, ok = run_fit("panels_transformed_fit", [[(a, a_out), (b, b_out), (test, None)]])
    assert ok == [True, True, True]
    assert out[:2] == [a_out, b_out]
    assert out[2] == text("11511520",
                          "02520511")


def test_panels_transformed_fit_marks_the_copy_in_the_separator_colour_under_background_only():
    a = text("01400",
             "11400",
             "01400")
    a_out = text("01404",                       # the source's 1s, in the separator colour, on the other panel
                 "11444",
                 "01404")
    test = text("10400",
                "01420",
                "00400")
    out, ok = run_fit("panels_transformed_fit", [[(a, a_out), (test, None)]])
    assert ok == [True, True]
    assert out[1] == text("10440",
                          "01424",              # the 2 already there stays
                          "00400")


def test_panels_transformed_fit_refuses_a_panel_position_no_demo_has():
    a = text("12500",
             "34500")
    a_out = text("12521",
                 "34543")
    test = text("12500500",                     # three panels: the third position was never fitted
                "34500500")
    out, ok = run_fit("panels_transformed_fit", [[(a, a_out), (test, None)]])
    assert ok == [True, False]
