"""Moving primitives: objects slide as rigid wholes toward the fitted anchor colours."""
from dsl_helpers import run_fit


def test_slide_to_anchor_fit_slides_a_shape_until_contact():
    a = [[0, 2, 0, 0, 0, 0],
         [2, 2, 0, 0, 8, 0],
         [0, 0, 0, 0, 8, 0],
         [0, 0, 0, 0, 0, 0]]
    a_out = [[0, 0, 0, 2, 0, 0],                    # the red shape slides right until it touches the cyan bar
             [0, 0, 2, 2, 8, 0],
             [0, 0, 0, 0, 8, 0],
             [0, 0, 0, 0, 0, 0]]
    test = [[0, 0, 0, 0, 0],
            [0, 8, 8, 8, 0],
            [0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0],
            [0, 0, 3, 0, 0],
            [0, 0, 3, 3, 0]]
    out, ok = run_fit("slide_to_anchor_fit", [[(a, a_out), (test, None)]])
    assert ok == [True, True]
    assert out[1] == [[0, 0, 0, 0, 0],              # a mover of a colour no demo showed moves too (up)
                      [0, 8, 8, 8, 0],
                      [0, 0, 3, 0, 0],
                      [0, 0, 3, 3, 0],
                      [0, 0, 0, 0, 0],
                      [0, 0, 0, 0, 0]]


def test_slide_to_anchor_fit_stacks_pixels_prefers_orthogonal_and_can_take_the_anchor_colour():
    a = [[0, 0, 0, 0, 0, 0, 0],
         [0, 5, 5, 0, 1, 0, 1],
         [0, 5, 5, 0, 0, 0, 0],
         [0, 0, 0, 0, 0, 0, 0],
         [1, 0, 0, 0, 0, 0, 0]]
    a_out = [[0, 0, 0, 0, 0, 0, 0],                 # pixels stack against the block and take its colour;
             [0, 5, 5, 5, 5, 0, 0],                 # the diagonal pixel comes up to the corner
             [0, 5, 5, 0, 0, 0, 0],
             [0, 5, 0, 0, 0, 0, 0],
             [0, 0, 0, 0, 0, 0, 0]]
    out, ok = run_fit("slide_to_anchor_fit", [[(a, a_out)]])
    assert ok == [True]
    assert out[0] == a_out
    lost = [[0, 5, 0], [0, 0, 0], [1, 0, 0]]       # the pixel sees no anchor along any ray: not ok
    _, ok = run_fit("slide_to_anchor_fit", [[(a, a_out), (lost, None)]])
    assert ok == [True, False]


def test_slide_to_anchor_fit_needs_an_anchor_and_a_change():
    a = [[0, 2, 0], [0, 0, 0], [0, 4, 0]]
    _, ok = run_fit("slide_to_anchor_fit", [[(a, a)]])      # nothing moves in the demo: every colour an anchor
    assert ok == [False]


def test_step_to_anchor_fit_moves_one_cell():
    a = [[3, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 4]]
    a_out = [[0, 0, 0, 0], [0, 3, 0, 0], [0, 0, 0, 0], [0, 0, 0, 4]]
    test = [[0, 0, 0, 0, 0], [4, 0, 0, 0, 3], [0, 0, 0, 0, 0]]
    out, ok = run_fit("step_to_anchor_fit", [[(a, a_out), (test, None)]])
    assert ok == [True, True]
    assert out[1] == [[0, 0, 0, 0, 0], [4, 0, 0, 3, 0], [0, 0, 0, 0, 0]]
    out, _ = run_fit("slide_to_anchor_fit", [[(a, a_out)]])  # sliding to contact goes further
    assert out[0] == [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 3, 0], [0, 0, 0, 4]]


def test_pull_pixels_to_colour_pulls_pixels_to_the_line_of_their_colour():
    from dsl_helpers import run_plain
    a = [[0, 0, 3, 0, 0, 4, 0, 0],
         [0, 0, 3, 0, 0, 4, 0, 3],      # the 3 passes over the yellow line to reach the green one
         [4, 0, 3, 0, 0, 4, 0, 0],      # the 4 passes over the green line
         [0, 0, 3, 0, 0, 4, 2, 0],      # no red line: the 2 vanishes
         [0, 0, 3, 0, 0, 4, 0, 0]]
    out, ok = run_plain("pull_pixels_to_colour", [a])
    assert ok == [True]
    assert out[0] == [[0, 0, 3, 0, 0, 4, 0, 0],
                      [0, 0, 3, 3, 0, 4, 0, 0],
                      [0, 0, 3, 0, 4, 4, 0, 0],
                      [0, 0, 3, 0, 0, 4, 0, 0],
                      [0, 0, 3, 0, 0, 4, 0, 0]]
    line, gap = [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]
    tie = [line, gap, gap, [0, 0, 1, 0, 0], gap, gap, line]   # the lone 1 sees a blue line 3 up and 3 down
    near = [line, gap, [0, 0, 1, 0, 0], gap, gap, gap, line]  # 2 up, 4 down: pulled up
    out, ok = run_plain("pull_pixels_to_colour", [near])
    assert ok == [True]
    assert out[0] == [line, [0, 0, 1, 0, 0], gap, gap, gap, gap, line]
    _, ok = run_plain("pull_pixels_to_colour", [tie, [[0, 5], [0, 0]]])
    assert ok == [False, False]          # a tie; no line at all


def test_centre_on_anchor_fit_centres_the_movers_in_the_anchor_box():
    a = [[3, 0, 0, 0, 3],
         [2, 2, 0, 0, 0],
         [0, 2, 0, 0, 0],
         [0, 0, 0, 0, 0],
         [3, 0, 0, 0, 3]]
    a_out = [[3, 0, 0, 0, 3],
             [0, 0, 0, 0, 0],
             [0, 2, 2, 0, 0],                     # a 2x2 box cannot be centred in a 5x5 frame
             [0, 0, 2, 0, 0],
             [3, 0, 0, 0, 3]]
    _, ok = run_fit("centre_on_anchor_fit", [[(a, a_out)]])
    assert ok == [False]                          # the centres differ by half a cell
    b = [[3, 0, 0, 0, 0, 3],
         [0, 0, 0, 0, 0, 0],
         [0, 0, 0, 0, 0, 0],
         [0, 0, 0, 0, 0, 0],
         [0, 0, 0, 0, 6, 6],
         [3, 0, 0, 0, 6, 3]]
    b_out = [[3, 0, 0, 0, 0, 3],
             [0, 0, 0, 0, 0, 0],
             [0, 0, 6, 6, 0, 0],
             [0, 0, 6, 0, 0, 0],
             [0, 0, 0, 0, 0, 0],
             [3, 0, 0, 0, 0, 3]]
    test = [[0, 0, 0, 0, 0],
            [0, 3, 0, 3, 0],
            [0, 0, 0, 0, 0],
            [0, 3, 0, 3, 7],
            [0, 0, 0, 0, 0]]
    out, ok = run_fit("centre_on_anchor_fit", [[(b, b_out), (test, None)]])
    assert ok == [True, True]
    assert out[1] == [[0, 0, 0, 0, 0],
                      [0, 3, 0, 3, 0],
                      [0, 0, 7, 0, 0],
                      [0, 3, 0, 3, 0],
                      [0, 0, 0, 0, 0]]


def test_jump_objs_by_size_fit_moves_each_object_by_its_own_extent():
    a = [[0, 0, 0, 0],
         [0, 0, 0, 0],
         [0, 0, 0, 0],
         [1, 0, 0, 0],
         [1, 0, 2, 0]]
    a_out = [[0, 0, 0, 0],
             [1, 0, 0, 0],                         # the 2-tall bar jumps 2 up, the pixel 1 up
             [1, 0, 0, 0],
             [0, 0, 2, 0],
             [0, 0, 0, 0]]
    test = [[0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0],
            [0, 4, 4, 0, 3],
            [0, 4, 4, 0, 3]]
    out, ok = run_fit("jump_objs_by_size_fit", [[(a, a_out), (test, None)]])
    assert ok == [True, True]
    assert out[1] == [[0, 0, 0, 0, 0],
                      [0, 4, 4, 0, 3],
                      [0, 4, 4, 0, 3],
                      [0, 0, 0, 0, 0],
                      [0, 0, 0, 0, 0]]
    tall = [[0, 0], [5, 0], [5, 0]]                 # a 2-tall bar in a 3-row grid cannot jump 2 up
    _, ok = run_fit("jump_objs_by_size_fit", [[(a, a_out), (tall, None)]])
    assert ok == [True, False]
