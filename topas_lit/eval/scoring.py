"""Exact-match scoring: a test input is solved when one of its (at most 2) attempts equals the answer grid,
size included; a task is solved when all its test inputs are."""
from __future__ import annotations

Grid = list[list[int]]


def attempt_correct(attempts: list[Grid], answer: Grid) -> bool:
    return any(a == answer for a in attempts[:2])


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
