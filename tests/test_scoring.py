"""Scoring: exact match with 2 attempts (pass@2 per test input and per task) and the graded cell accuracy."""
import json

import pytest

from topas_lit.eval.results import ResultStore
from topas_lit.eval.scoring import attempt_correct, cell_accuracy, mean_cell_accuracy, pass_at_2

ANSWER = [[1, 2], [3, 4]]


def test_exact_match_needs_the_whole_grid_size_included_within_two_attempts():
    assert attempt_correct([[[0, 0], [0, 0]], ANSWER], ANSWER)
    assert not attempt_correct([[[1, 2]], [[1, 2], [3, 4], [0, 0]]], ANSWER)           # right cells, wrong sizes
    assert not attempt_correct([[[0]], [[0]], ANSWER], ANSWER)                          # a third attempt never counts


@pytest.mark.parametrize("attempts, expected", [
    ([ANSWER, ANSWER], 1.0),
    ([[[1, 0], [0, 4]], [[0, 0], [0, 0]]], 0.5),      # better of the two
    ([[[0, 0], [0, 0]], [[1, 2], [3, 0]]], 0.75),
    ([[[1, 2]], [[1, 2, 3], [3, 4, 5]]], 0.0),        # wrong size scores 0, however many cells agree
    ([[[1, 2], [3]], [[0, 0], [0, 0]]], 0.0),         # ragged attempt: wrong size
    ([[[9, 9], [9, 9]], [[9, 9], [9, 9]], ANSWER], 0.0),  # a third attempt never counts
])
def test_cell_accuracy_is_the_better_attempt_and_zero_for_a_wrong_size(attempts, expected):
    assert cell_accuracy(attempts, ANSWER) == pytest.approx(expected)


def test_report_gives_pass_at_2_per_input_and_per_task_and_mean_cell_accuracy(tmp_path):
    writer = ResultStore(tmp_path)
    recs = [
        {"task_id": "a", "attempts": [[ANSWER, ANSWER]], "correct": [True], "cell_accuracy": [1.0]},
        {"task_id": "b", "attempts": [[ANSWER, ANSWER]] * 2, "correct": [True, False], "cell_accuracy": [1.0, 0.5]},
        {"task_id": "c", "attempts": [[ANSWER, ANSWER]], "correct": None, "cell_accuracy": None},   # unscored
    ]
    for r in recs:
        writer.append({**r, "rails": ["painter"] * len(r["attempts"]), "error": None, "ttt": None, "seconds": 0.0,
                       "rank": 0})
    report = writer.merge(["a", "b", "c"], rejected=[])
    assert report["test_inputs"] == 3 and report["test_inputs_solved"] == 2
    assert report["pass@2_per_test_input"] == pytest.approx(2 / 3)
    assert report["tasks"] == 2 and report["pass@2_per_task"] == pytest.approx(0.5)
    assert report["cell_accuracy_per_test_input"] == pytest.approx(2.5 / 3)
    assert pass_at_2([])["pass@2_per_task"] == 0.0 and mean_cell_accuracy([recs[2]]) is None


def test_compare_runs_scores_the_tasks_both_runs_finished(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    def run(name, recs):
        store = ResultStore(tmp_path / name)
        for task_id, correct, acc in recs:
            store.append({"task_id": task_id, "correct": correct, "cell_accuracy": acc, "seconds": 1.0,
                          "rails": ["painter"], "ttt": {"steps": 2, "skipped": None, "seconds": 0.5}, "error": None})
        return tmp_path / name

    a = run("a", [("t1", [True], [1.0]), ("t2", [False], [0.5]), ("t3", [False], [0.0])])
    b = run("b", [("t1", [False], [0.9]), ("t2", [True], [1.0])])            # t3 not finished: left out
    out = tmp_path / "cmp.json"
    proc = subprocess.run([sys.executable, "scripts/compare_runs.py", str(a), str(b), "--names", "base", "ttt",
                           "--json", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(out.read_text())
    assert res["tasks"] == ["t1", "t2"]
    assert res["runs"]["base"]["tasks_solved"] == 1 and res["runs"]["ttt"]["tasks_solved"] == 1
    assert res["runs"]["base"]["cell_accuracy_per_test_input"] == pytest.approx(0.75)
    assert res["runs"]["ttt"]["cell_accuracy_per_test_input"] == pytest.approx(0.95)
    assert res["only"] == {"base": ["t1"], "ttt": ["t2"]} and "scored in both: 2" in proc.stdout
