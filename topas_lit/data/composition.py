"""What a sequence-solver run trains on, and the contamination guard.

Training tasks (a training split: all their pairs, test pairs included, since they are training data) and, for
joint test-time training, the evaluated tasks' demo pairs (never their test outputs). Each task gets an
embedding row: row 0 is "unknown task", then the training tasks, then the evaluated tasks (trained by joint or
per-task TTT; without TTT an evaluated task is predicted with row 0).

The guard: a training task that shares an id with an evaluated task, or holds a pair identical to one of its
demo pairs (a copy of the task, as ARC-AGI-2's training set holds of most ARC-AGI-1 evaluation tasks), is
contamination. Test outputs are not read here: they stay with the evaluator's scoring step. Such a run stops before any work with ``ContaminationError`` naming the count, examples and the
setting that drops those tasks from training (``data.train.drop_overlap=true``). A config may instead list the
overlaps it knowingly drops (ARC-AGI-1's training task 40853293 holds a demo pair of evaluation task 070dd51e);
any other overlap still stops the run.
"""
from __future__ import annotations

from dataclasses import dataclass

from topas_lit.data.tasks import Task, TaskSet
from topas_lit.errors import ConfigError

UNKNOWN_TASK = 0


class ContaminationError(ConfigError):
    """Training tasks overlap the evaluated tasks."""


def _key(grid) -> tuple:
    return tuple(tuple(row) for row in grid)


def training_pairs(task: Task, solutions: dict) -> list[tuple]:
    """All pairs of a training task: demos, then test inputs with their outputs where the set has them."""
    outs = solutions.get(task.id) or []
    return list(task.demos) + list(zip(task.test_inputs, outs))


def find_overlap(train: TaskSet, evaluated: list[Task]) -> dict[str, str]:
    """Training task id -> why it overlaps the evaluated tasks (empty: no overlap)."""
    eval_ids = {t.id for t in evaluated}
    eval_pairs = {(_key(i), _key(o)): t.id for t in evaluated for i, o in t.demos}
    found = {}
    for task in train.tasks:
        if task.id in eval_ids:
            found[task.id] = "same task id"
            continue
        for i, o in training_pairs(task, train.solutions):
            twin = eval_pairs.get((_key(i), _key(o)))
            if twin is not None:
                found[task.id] = f"a pair identical to a demo of evaluated task {twin}"
                break
    return found


def check_overlap(train: TaskSet, evaluated: list[Task], drop: bool | list[str]) -> TaskSet:
    """Raise ``ContaminationError`` on overlap, or return the training set without the overlapping tasks: all of
    them (``drop=True``) or those ``drop`` lists (a config's known overlaps; any other one still stops the run)."""
    found = find_overlap(train, evaluated)
    if not found:
        return train
    listed = {str(t) for t in (drop or [])} if drop is not True else set()
    unlisted = {} if drop is True else {tid: why for tid, why in found.items() if tid not in listed}
    if unlisted:
        examples = "; ".join(f"{tid}: {why}" for tid, why in list(unlisted.items())[:3])
        n_id = sum(1 for why in unlisted.values() if why == "same task id")
        raise ContaminationError(
            f"{len(unlisted)} training task(s) overlap the evaluated tasks ({n_id} by task id, "
            f"{len(unlisted) - n_id} by an identical pair), e.g. {examples}. Set data.train.drop_overlap=true to drop "
            f"them from training.")
    kept = TaskSet(rejected=list(train.rejected))
    for task in train.tasks:
        if task.id not in found:
            kept.add(task, train.solutions.get(task.id))
    return kept


@dataclass
class Composition:
    """The tasks of a run and their embedding rows."""

    task_ids: list[str]                 # row r + 1 -> task id (row 0: unknown task): training, then evaluated
    train_tasks: list[Task]
    joint_tasks: list[Task]             # evaluated tasks whose demos train too (joint TTT)
    dropped: dict[str, str]             # training tasks dropped as overlapping, with the reason

    @property
    def rows(self) -> dict[str, int]:
        return {tid: r + 1 for r, tid in enumerate(self.task_ids)}

    @property
    def n_rows(self) -> int:
        return len(self.task_ids) + 1


def compose(train: TaskSet, evaluated: list[Task], joint: bool, drop_overlap: bool | list[str]
            ) -> tuple[Composition, TaskSet]:
    """-> (the run's composition, the training set after the guard)."""
    found = find_overlap(train, evaluated)
    train = check_overlap(train, evaluated, drop_overlap)
    joint_tasks = list(evaluated) if joint else []
    ids = [t.id for t in train.tasks] + [t.id for t in evaluated]
    return Composition(ids, list(train.tasks), joint_tasks, found), train
