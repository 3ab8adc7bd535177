"""The evaluator's own logic with stand-in sources (no model): per-task records (final attempts and each source's
own top 2, skips, replacement, scoring), resume, and the fingerprint that stops a re-run under other settings."""
import json
from types import SimpleNamespace

import pytest
import torch

from conftest import compose_cfg
from topas_lit.data.tasks import Task, TaskSet
from topas_lit.errors import ConfigError
from topas_lit.eval.evaluator import Evaluator, prediction_callbacks
from topas_lit.eval.fingerprint import Fingerprint, config_parts, differences
from topas_lit.eval.voting import Candidate

X, Y, Z, W = [[1, 1]], [[2]], [[3]], [[4, 4], [4, 4]]


def task(tid, n_tests=1):
    return Task(tid, (([[0]], [[1]]), ([[2]], [[3]])), tuple([[5]] for _ in range(n_tests)), "test")


class Scripted:
    """A source answering from a script {task id: [[Candidate, ...] per test input]}; counts what it was given."""

    def __init__(self, name, script, skip_verified=False, replaces=None, adapts=False, info=None):
        self.name, self.script, self.skip_verified, self.replaces = name, script, skip_verified, replaces
        self.adapts, self.info = adapts, info or {"called": True}
        self.given: list[str] = []
        self.task_info: list[dict] = []

    def __call__(self, tasks):
        self.given += [t.id for t in tasks]
        self.task_info = [dict(self.info) for _ in tasks]
        return [self.script.get(t.id, [[] for _ in t.test_inputs]) for t in tasks]


def c(grid, source, verified=False, conf=0.5, rail="painter", program="painter"):
    return Candidate(grid, verified, conf, rail, program, source)


def sources():
    rails = Scripted("rails", {"a": [[c(X, "rails", True, 1.0, "beam", "flip_lr")]]})
    net = Scripted("network", {"a": [[c(Y, "network")] * 3], "b": [[c(Y, "network")] * 3 + [c(W, "network")]],
                               "c": [[c(Z, "network")], [c(Y, "network")]]})
    ttt = Scripted("ttt", {"b": [[c(Z, "ttt"), c(W, "ttt", conf=0.9)]]}, skip_verified=True, replaces="network")
    return [rails, net, ttt]


def fake_module(tasks, answers, weights=0.0, callbacks=()):
    ts = TaskSet()
    for t in tasks:
        ts.add(t, answers.get(t.id))
    model = torch.nn.Linear(2, 2)
    for p in model.parameters():
        torch.nn.init.constant_(p, weights)
    trainer = SimpleNamespace(datamodule=SimpleNamespace(test_set=ts), callbacks=list(callbacks), global_rank=0,
                              world_size=1, is_global_zero=True, strategy=SimpleNamespace(barrier=lambda: None))
    return SimpleNamespace(trainer=trainer, model=model, infer=None, device=torch.device("cpu"))


TASKS = [task("a"), task("b"), task("c", n_tests=2)]
ANSWERS = {"a": [X], "b": [W], "c": [Z, X]}
CONFIG = {"rail": {"depth": 1}, "voting": {"n_augment": 2}}


def run(tmp_path, srcs=None, config=CONFIG, answers=ANSWERS, weights=0.0, batches=((0, 1), (2,))):
    ev = Evaluator(srcs or sources(), tmp_path, dict(config))
    ev.start(fake_module(TASKS, answers, weights))
    for batch in batches:
        ev.evaluate([TASKS[i] for i in batch])
    return ev, ev.finish(ev_trainer(ev))


def ev_trainer(ev):
    return SimpleNamespace(strategy=SimpleNamespace(barrier=lambda: None), is_global_zero=True, world_size=1)


def records(tmp_path):
    return {r["task_id"]: r for r in map(json.loads, (tmp_path / "results.jsonl").read_text().splitlines())}


def test_records_hold_the_final_attempts_and_each_sources_own_scored_attempts(tmp_path):
    srcs = sources()
    _, report = run(tmp_path, srcs)
    rec = records(tmp_path)
    a, b, cc = rec["a"], rec["b"], rec["c"]
    # a: the verified program's answer first, then the network's vote; TTT skipped (rails verified every input)
    assert a["attempts"] == [[X, Y]] and a["rails"] == ["beam"] and a["programs"] == ["flip_lr"]
    assert a["answered_by"] == ["rails"] and a["verified"] == [True] and a["correct"] == [True]
    assert "a" not in srcs[2].given and a["sources"]["ttt"]["info"] == {"skipped": "verified"}
    assert a["sources"]["ttt"]["attempts"] == [[]] and a["sources"]["ttt"]["correct"] == [False]
    # b: TTT answered, so it replaces the network in the combined vote (W beats Z on confidence, Y is dropped)
    assert b["attempts"] == [[W, Z]] and b["answered_by"] == ["ttt"] and b["correct"] == [True]
    assert b["sources"]["network"]["attempts"] == [[Y, W]] and b["sources"]["network"]["correct"] == [True]
    assert b["sources"]["rails"]["attempts"] == [[]] and b["sources"]["rails"]["rails"] == ["none"]
    assert b["sources"]["network"]["candidates"] == [4] and b["sources"]["network"]["info"] == {"called": True}
    # c: two test inputs, TTT proposed nothing: the network's answers stand, a lone grid fills both attempts
    assert cc["attempts"] == [[Z, Z], [Y, Y]] and cc["correct"] == [True, False] and cc["truth"] == [Z, X]
    assert cc["cell_accuracy"] == [1.0, 0.0]
    # the report: combined and per source, labelled, from the same records
    assert (report["test_inputs_solved"], report["tasks_solved"]) == (3, 2)
    s = report["sources"]
    assert (s["rails"]["test_inputs_solved"], s["rails"]["tasks_answered"]) == (1, 1)
    assert (s["network"]["test_inputs_solved"], s["network"]["tasks_solved"]) == (2, 1)
    assert (s["ttt"]["test_inputs_solved"], s["ttt"]["tasks_skipped"]) == (1, {"verified": 1})
    assert report["answered_by_source"] == {"network": 2, "rails": 1, "ttt": 1}
    sub = json.loads((tmp_path / "submission.json").read_text())
    assert sub["c"] == [{"attempt_1": Z, "attempt_2": Z}, {"attempt_1": Y, "attempt_2": Y}]


def test_the_ttt_field_is_the_adapting_sources_info_whatever_its_name(tmp_path):
    """Per-task TTT of the sequence solver (sequence_rows / sequence_ttt) reports its steps like the slot TTT."""
    net = Scripted("network", {"a": [[c(Y, "network")]]})
    rows = Scripted("sequence_rows", {"b": [[c(W, "sequence_rows")]]}, adapts=True, info={"steps": 7, "seconds": 0.1})
    _, report = run(tmp_path, [net, rows])
    rec = records(tmp_path)
    assert all(r["ttt"] == {"steps": 7, "seconds": 0.1} for r in rec.values())
    assert report["ttt_tasks_adapted"] == 3 and report["ttt_steps_per_task"] == 7
    _, report = run(tmp_path / "plain", [net, Scripted("sequence", {}, info={"steps": 7})])
    assert all(r["ttt"] is None for r in records(tmp_path / "plain").values()) and report["ttt_tasks_adapted"] == 0


def test_an_unanswered_test_input_is_unsolved_and_gets_a_placeholder_in_the_submission(tmp_path):
    run(tmp_path, [Scripted("rails", {})], config=CONFIG)
    rec = records(tmp_path)["a"]
    assert rec["attempts"] == [[]] and rec["rails"] == ["none"] and rec["correct"] == [False]
    assert json.loads((tmp_path / "submission.json").read_text())["a"] == [{"attempt_1": [[0]], "attempt_2": [[0]]}]


def test_a_task_without_answers_is_recorded_unscored(tmp_path):
    _, report = run(tmp_path, answers={"a": [X]})
    rec = records(tmp_path)
    assert rec["b"]["correct"] is None and rec["b"]["truth"] is None and rec["b"]["sources"]["ttt"]["correct"] is None
    assert report["tasks"] == 1 and report["sources"]["network"]["tasks"] == 1


def test_resume_with_the_same_fingerprint_evaluates_only_unfinished_tasks(tmp_path):
    first = sources()
    ev = Evaluator(first, tmp_path, dict(CONFIG))
    ev.start(fake_module(TASKS, ANSWERS))
    ev.evaluate(TASKS[:2])                                   # killed after two tasks
    again = sources()
    ev, report = run(tmp_path, again, batches=((0, 1), (2,)))
    assert again[1].given == ["c"] and report["tasks_evaluated"] == 3
    whole = tmp_path / "whole"
    _, unbroken = run(whole)
    strip = lambda r: {k: v for k, v in r.items() if "seconds" not in k}   # noqa: E731
    assert strip(report) == strip(unbroken)
    assert (tmp_path / "submission.json").read_text() == (whole / "submission.json").read_text()


def test_a_rerun_with_other_settings_stops_before_any_work_naming_what_changed(tmp_path):
    run(tmp_path, batches=((0,),))
    other = {"rail": {"depth": 2}, "voting": {"n_augment": 2}}
    srcs = sources()
    ev = Evaluator(srcs, tmp_path, other)
    with pytest.raises(ConfigError) as err:
        ev.check_config()                                    # the check before training
    msg = str(err.value)
    assert "rail.depth: 1 -> 2" in msg and "hydra.run.dir" in msg and str(tmp_path / "eval") in msg
    with pytest.raises(ConfigError, match="rail.depth: 1 -> 2"):
        ev.start(fake_module(TASKS, ANSWERS))               # and at test start
    assert all(not s.given for s in srcs)


def test_other_weights_stop_the_rerun_and_name_the_weights(tmp_path):
    run(tmp_path, batches=((0,),))
    ev = Evaluator(sources(), tmp_path, dict(CONFIG))
    ev.check_config()                                        # the config alone matches
    with pytest.raises(ConfigError, match=r"weights: content hash \w+ -> \w+ \(another checkpoint"):
        ev.start(fake_module(TASKS, ANSWERS, weights=1.0))


def test_records_without_a_fingerprint_are_not_resumed(tmp_path):
    (tmp_path / "eval").mkdir(parents=True)
    (tmp_path / "eval" / "tasks.rank0.jsonl").write_text(json.dumps({"task_id": "a", "rank": 0}) + "\n")
    with pytest.raises(ConfigError, match="carry no fingerprint"):
        Evaluator(sources(), tmp_path, dict(CONFIG)).check_config()


def test_fingerprint_parts_follow_prediction_settings_only():
    base = config_parts(compose_cfg())
    assert config_parts(compose_cfg(["data.test.limit=7", "data.test.start=3"])) == base   # which tasks: no
    assert config_parts(compose_cfg(["rail.in_training=true", "trainer.max_epochs=5"])) == base   # training only
    assert config_parts(compose_cfg(["module.ttt.steps=5"])) == base                   # TTT off: its steps idle
    for override, key in [("rail.depth=3", "rail.depth"), ("module.eval.n_augment=8", "voting.n_augment"),
                          ("model.ebr.gate=always", "model.ebr.gate"), ("data.max_demos=4", "data.max_demos"),
                          ("+experiment=slot_ttt", "ttt.enabled"), ("precision=bf16-mixed", "precision.trainer"),
                          ("module.eval.sources=[rails]", "sources"), ("data=arc2", "data.test.version")]:
        changed = differences(base, config_parts(compose_cfg([override])))
        assert any(line.startswith(key) for line in changed), (override, changed)
    assert Fingerprint(base).id != Fingerprint(config_parts(compose_cfg(["rail.depth=3"]))).id


def test_prediction_callbacks_are_named_and_their_absence_is_said():
    from hydra.utils import instantiate

    cfg = compose_cfg()
    cbs = [instantiate(v) for v in cfg.callbacks.values()]
    model = SimpleNamespace(ebr=SimpleNamespace(gate="entropy"), dream=object())
    found = prediction_callbacks(cbs, model)
    assert found["ebr_gate"] == {"eval": "entropy", "ttt": "never"}
    assert found["dream_buffer"] == {"capacity": 256, "feed_engine": True}
    none = prediction_callbacks([], model)
    assert none["ebr_gate"].startswith("absent") and "model.ebr.gate = entropy" in none["ebr_gate"]
    assert none["dream_buffer"].startswith("absent")
    assert Fingerprint({"callbacks": found}).id != Fingerprint({"callbacks": none}).id
    # a model without an EBR gate or a dream memory (the sequence solver) has nothing for them to shape
    assert prediction_callbacks([], SimpleNamespace(ebr=SimpleNamespace(views=0))) == {}


# ---- the same through train.py --------------------------------------------------------------------------------------
EVAL = ["fit=false", "logger=csv", "callbacks=none", "data.test.limit=2", "rail.depth=1", "rail.beam_width=2",
        "rail.policy_topk=2", "module.eval.n_augment=1"]


def train_py(run_dir, *overrides, rc=0):
    import os
    import subprocess
    import sys

    from conftest import ROOT

    cmd = [sys.executable, "train.py", *EVAL, *overrides, f"hydra.run.dir={run_dir}"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == rc, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.mark.slow
def test_train_py_rerun_with_another_setting_checkpoint_or_callbacks_stops_and_the_same_command_resumes(tmp_path):
    from topas_lit.run import build_module

    run_dir = tmp_path / "run"
    train_py(run_dir)
    rank_file = run_dir / "eval" / "tasks.rank0.jsonl"
    before = rank_file.read_text()
    report = json.loads((run_dir / "report.json").read_text())
    torch.manual_seed(1)
    other = tmp_path / "other.ckpt"
    torch.save({"state_dict": build_module(compose_cfg(EVAL)).state_dict()}, other)
    for extra, named in [(["rail.depth=2"], "rail.depth: 1 -> 2"), ([f"ckpt_path={other}"], "weights: content hash"),
                         (["callbacks=default"], "callbacks.ebr_gate")]:
        proc = train_py(run_dir, *extra, rc=2)
        err = proc.stderr.strip().splitlines()[-1]
        assert err.startswith("error: ") and named in err and "hydra.run.dir" in err, err
        if extra == ["rail.depth=2"]:                    # a config setting: stopped before the weights were even set
            assert "Starting weights" not in proc.stdout
        assert rank_file.read_text() == before                                         # nothing evaluated
    proc = train_py(run_dir)                                                           # the same command again
    logs = proc.stdout + proc.stderr
    ids = [json.loads(line)["task_id"] for line in before.splitlines()]
    assert rank_file.read_text() == before and len(ids) == 2 and not any(f"task {t}:" in logs for t in ids)
    strip = lambda r: {k: v for k, v in r.items() if "seconds" not in k}               # noqa: E731
    assert strip(json.loads((run_dir / "report.json").read_text())) == strip(report)
