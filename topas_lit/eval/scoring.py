"""Exact-match scoring: a test input is solved when one of its (at most 2) attempts equals the answer grid,
size included; a task is solved when all its test inputs are. Cell accuracy is a secondary, graded figure for
seeing whether a change (TTT, EBR) moves answers toward the truth before exact matches move: the better of the
two attempts' fraction of answer cells right, 0 for an attempt of the wrong size. It never enters pass@2.

``Scorer`` is the evaluator's scoring step and the only reader of the answer key (the test outputs): it runs on
a task's record after every prediction in it is final, and adds what it found (``correct``, ``cell_accuracy``,
``truth``) to the record.
"""
from __future__ import annotations

from collections.abc import Mapping

Grid = list[list[int]]


def attempt_correct(attempts: list[Grid], answer: Grid) -> bool:
    return any(a == answer for a in attempts[:2])


def cell_accuracy(attempts: list[Grid], answer: Grid) -> float:
    def one(a: Grid) -> float:
        if len(a) != len(answer) or any(len(r) != len(t) for r, t in zip(a, answer)):
            return 0.0
        cells = sum(len(t) for t in answer)
        return sum(x == y for r, t in zip(a, answer) for x, y in zip(r, t)) / cells
    return max((one(a) for a in attempts[:2]), default=0.0)


def mean_cell_accuracy(results: list[dict]) -> float | None:
    """Mean over scored test inputs of the records' 'cell_accuracy' (None when no record has one)."""
    accs = [c for r in results for c in (r.get("cell_accuracy") or [])]
    return sum(accs) / len(accs) if accs else None


def pass_at_2(results: list[dict]) -> dict:
    """results: one dict per task with 'correct': [bool per test input] (None when unscored).

    Returns the labelled figures: per test input (Kaggle style) and per task (all test inputs right).
    """
    scored = [r for r in results if r.get("correct") is not None]
    inputs = [c for r in scored for c in r["correct"]]
    tasks = [all(r["correct"]) for r in scored]
    return {
        "test_inputs": len(inputs), "test_inputs_solved": sum(inputs),
        "pass@2_per_test_input": sum(inputs) / len(inputs) if inputs else 0.0,
        "tasks": len(tasks), "tasks_solved": sum(tasks),
        "pass@2_per_task": sum(tasks) / len(tasks) if tasks else 0.0,
    }


class Scorer:
    """Scores finished task records against the answer key ``{task id: [output grid per test input]}``.

    A task without answers (a Kaggle test file) stays unscored: ``correct``/``cell_accuracy``/``truth`` None.
    """

    def __init__(self, answers: Mapping[str, list[Grid]]):
        self._answers = answers

    def score(self, record: dict) -> dict:
        """Adds ``correct`` and ``cell_accuracy`` (per test input) for the final attempts and for each source's own
        attempts under ``record["sources"]``, and ``truth`` (the answer grids); returns the record."""
        answers = self._answers.get(record["task_id"])
        record["truth"] = answers
        for part in (record, *record.get("sources", {}).values()):
            part["correct"], part["cell_accuracy"] = score_attempts(part["attempts"], answers)
        return record


def score_attempts(attempts: list[list[Grid]], answers: list[Grid] | None) -> tuple[list | None, list | None]:
    """(correct, cell accuracy) per test input of one task's attempts, or (None, None) without answers."""
    if answers is None:
        return None, None
    return ([attempt_correct(a, ans) for a, ans in zip(attempts, answers)],
            [cell_accuracy(a, ans) for a, ans in zip(attempts, answers)])
