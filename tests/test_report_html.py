"""report.html: self-contained (nothing fetched), and shows per task the demo pairs, the test input, attempts 1
and 2, the truth, rail/program/source, solved or not; filters by outcome, rail and source; the summary figures
for the final answers and each source alone."""
import re

from test_evaluator import TASKS, Scripted, c, records, run

from topas_lit.eval.report_html import PALETTE, grid_svg

EVIL = "<script>alert(1)</script>"


def html_of(tmp_path, srcs=None) -> str:
    run(tmp_path, srcs)
    return (tmp_path / "report.html").read_text()


def cards(html: str) -> dict[str, str]:
    """task id -> its card's HTML."""
    parts = re.split(r'(?=<div class="task )', html.split("<script>")[0])
    return {re.search(r"<h3>([^<]+)<", p).group(1): p for p in parts if p.startswith('<div class="task ')}


def test_report_is_self_contained(tmp_path):
    html = html_of(tmp_path)
    assert html.startswith("<!doctype html>") and html.rstrip().endswith("</html>")
    assert not re.search(r"<link|<img|<iframe|\bsrc=|@import|url\(", html)
    urls = set(re.findall(r"https?://[^\s\"'<>]+", html))
    assert urls <= {"http://www.w3.org/2000/svg"}                       # an SVG namespace name, never fetched
    assert html.count("<script>") == 1 and html.count("<style>") == 1   # inline only


def test_each_task_card_shows_demos_test_input_attempts_truth_and_how_it_was_answered(tmp_path):
    html = html_of(tmp_path)
    by_task = cards(html)
    assert list(by_task) == ["a", "b", "c"]
    rec = records(tmp_path)
    for task in TASKS:
        card, r = by_task[task.id], rec[task.id]
        main = re.sub(r"<details>.*?</details>", "", card, flags=re.S)   # without the folded per-source views
        n_inputs = len(task.test_inputs)
        # demo pairs (in + out), then per test input: the input, attempts 1 and 2, the truth
        assert main.count("<svg") == 2 * len(task.demos) + 4 * n_inputs
        assert main.count("attempt 1") == main.count("attempt 2") == main.count("test input ") == n_inputs
        for n in range(n_inputs):
            assert f"rail {r['rails'][n]} &middot; program {r['programs'][n]} &middot; source {r['answered_by'][n]}" \
                in main
        assert card.count("each source's own attempts") == n_inputs
    assert 'data-solved="solved"' in by_task["a"] and "badge b-solved" in by_task["a"]
    assert 'data-solved="unsolved"' in by_task["c"] and "unsolved 1/2" in by_task["c"]
    assert 'data-rails="beam"' in by_task["a"] and 'data-sources="rails"' in by_task["a"]
    # the right attempt is framed as right, the wrong one as wrong; the truth is drawn
    a_main = re.sub(r"<details>.*?</details>", "", by_task["a"], flags=re.S)
    assert a_main.count('class="g ok"') == 1 and a_main.count('class="g bad"') == 1 and "truth" in a_main
    assert "verified" in a_main and "correct" in a_main


def test_summary_gives_pass_at_2_combined_and_per_source_and_answers_per_rail(tmp_path):
    html = html_of(tmp_path)
    summary = html.split("<h2>Settings</h2>")[0]
    head = re.search(r"<tr><th>measure</th>(.*?)</tr>", summary).group(1)
    assert re.findall(r"<th>([^<]+)</th>", head) == ["combined (final answer)", "rails alone", "network alone",
                                                     "ttt alone"]
    row = re.search(r"<tr><td>pass@2 per test input</td>(.*?)</tr>", summary).group(1)
    assert re.findall(r"<td>([^<]+)</td>", row) == ["0.750 (3/4)", "0.250 (1/4)", "0.500 (2/4)", "0.250 (1/4)"]
    row = re.search(r"<tr><td>pass@2 per task</td>(.*?)</tr>", summary).group(1)
    assert re.findall(r"<td>([^<]+)</td>", row) == ["0.667 (2/3)", "0.333 (1/3)", "0.333 (1/3)", "0.333 (1/3)"]
    assert "cell accuracy" in summary and "verified: 1" in summary     # TTT skipped a verified task
    assert "<tr><td>beam</td><td>1</td><td>1</td></tr>" in summary     # answers per rail, and how many right
    assert "<tr><td>painter</td><td>3</td><td>2</td></tr>" in summary


def test_filters_offer_outcome_rail_and_source(tmp_path):
    html = html_of(tmp_path)
    for select, values in (("f-solved", ["all", "solved", "unsolved", "unscored"]),
                           ("f-rail", ["all", "beam", "painter"]), ("f-source", ["all", "network", "rails", "ttt"])):
        options = re.search(rf'<select id="{select}">(.*?)</select>', html).group(1)
        assert re.findall(r'<option value="([^"]+)">', options) == values
    assert "applyFilters" in html.split("<script>")[1]


def test_text_is_escaped_and_grids_use_the_arc_palette(tmp_path):
    srcs = [Scripted("rails", {"a": [[c([[1, 2], [9, 0]], "rails", True, 1.0, "beam", EVIL)]]})]
    html = html_of(tmp_path, srcs)
    assert EVIL not in html and "&lt;script&gt;" in html
    svg = grid_svg([[1, 2], [9, 0]])
    assert all(f'fill="{PALETTE[v]}"' in svg for v in (0, 1, 2, 9)) and 'viewBox="0 0 2 2"' in svg
    assert PALETTE[:3] == ("#000000", "#0074D9", "#FF4136")
