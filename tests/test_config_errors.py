"""Bad config never reaches the user as a traceback: ``config_check.validate`` names the cause in one line, and
train.py prints ``error: <cause>`` and exits with code 2 (for strict-mode data errors too)."""
import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, compose_cfg
from topas_lit.config_check import ConfigError, validate

NO_CUDA = not torch.cuda.is_available()


@pytest.mark.parametrize("overrides", [[], ["data=eval_all"], ["data=arc2"], ["+experiment=slot_ttt"], ["rail=gpu"],
                                       ["precision=bf16-mixed"], ["callbacks.ebr_gate.ttt=null"],
                                       ["+experiment=ttt"], ["+experiment=ttt", "model.compile=default"]])
def test_shipped_configs_pass(overrides):
    validate(compose_cfg(overrides))


@pytest.mark.parametrize("overrides,cause", [
    (["rail.order=[one_glance,bogus]"], "rail.order has unknown rail(s) ['bogus']; known rails: ['one_glance',"),
    (["rail.order=[painter]"], "unknown rail(s) ['painter']"),
    (["rail.order=[beam,beam]"], "rail.order names a rail twice"),
    (["rail.order=beam"], "rail.order must be a list"),
    (["module.ttt.steps=-1"], "module.ttt.steps must be an integer >= 0, got -1"),
    (["rail.depth=-1"], "rail.depth must be an integer >= 1, got -1"),
    (["rail.beam_width=0"], "rail.beam_width must be an integer >= 1, got 0"),
    (["rail.policy_topk=-3"], "rail.policy_topk must be an integer >= 1, got -3"),
    (["module.eval.n_augment=0"], "module.eval.n_augment must be an integer >= 1, got 0"),
    (["data.batch_size=-2"], "data.batch_size must be an integer >= 1, got -2"),
    (["data.batch_size=true"], "data.batch_size must be an integer >= 1, got True"),
    (["rail.depth=2.5"], "rail.depth must be an integer >= 1, got 2.5"),
    (["rail.depth=two"], "rail.depth must be an integer >= 1, got 'two'"),
    (["trainer.max_epochs=-2"], "trainer.max_epochs must be an integer >= -1, got -2"),
    (["model.compile=fast"], "model.compile must be one of ['none', 'cudagraph', 'reduce-overhead'], got 'fast'"),
    (["+experiment=ttt", "model.compile=cudagraph"], "model.compile must be one of ['none', 'default'], got 'cudagraph'"),
    (["model.ebr.gate=maybe"], "model.ebr.gate must be one of ['always', 'never', 'entropy'], got 'maybe'"),
    (["callbacks.ebr_gate.ttt=sometimes"], "callbacks.ebr_gate.ttt must be one of"),
    (["rail.ttt_when_verified=maybe"], "rail.ttt_when_verified must be one of ['skip', 'run']"),
    (["module.nonfinite=ignore"], "module.nonfinite must be one of ['error', 'skip'], got 'ignore'"),
    (["module.nonfinite_check_every=0"], "module.nonfinite_check_every must be an integer >= 1, got 0"),
    (["matmul_precision=tf32"], "matmul_precision must be one of ['highest', 'high', 'medium'], got 'tf32'"),
    (["module.ttt.tasks_at_once=0"], "module.ttt.tasks_at_once must be an integer >= 1, got 0"),
    (["trainer.precision=8-true"], "trainer.precision must be one of"),
    (["data=folder"], "data.path must be set"),
    (["data=folder", "data.path=/no/such/folder"], "data.test.path '/no/such/folder' is not a folder"),
    (["data.test.limit=-1"], "data.test.limit must be an integer >= 0, got -1"),
    (["+data.test.limt=5"], "data.test has unknown key(s) ['limt']"),
    (["data.train.version=arc9"], "data.train.version must be one of ['arc1', 'arc2']"),
    (["data=eval_all", "data.test.parts=[]"], "data.test.parts must be a non-empty list"),
])
def test_bad_value_is_a_one_line_config_error(overrides, cause):
    with pytest.raises(ConfigError) as info:
        validate(compose_cfg(overrides))
    assert cause in str(info.value) and "\n" not in str(info.value)


def test_missing_solutions_file_is_named(tmp_path):
    chal = tmp_path / "c.json"
    chal.write_text("{}")
    cfg = compose_cfg(["data=kaggle", f"data.path={chal}", f"data.solutions={tmp_path / 'absent.json'}"])
    with pytest.raises(ConfigError, match=r"data.test.solutions '.*absent.json' does not exist"):
        validate(cfg)


@pytest.mark.skipif(not NO_CUDA, reason="checks the CPU-only case")
@pytest.mark.parametrize("overrides", [["precision=16-mixed"], ["precision=16-mixed", "trainer.accelerator=cpu"],
                                       ["trainer.precision=16-true"], ["trainer.precision=16"]])
def test_fp16_without_cuda_is_an_error(overrides):
    with pytest.raises(ConfigError, match="needs a CUDA GPU"):
        validate(compose_cfg(overrides))


@pytest.mark.skipif(not NO_CUDA, reason="checks the CPU-only case")
def test_gpu_accelerator_without_cuda_is_an_error():
    with pytest.raises(ConfigError, match="no CUDA GPU is available"):
        validate(compose_cfg(["+experiment=gpu"]))


def test_bf16_on_a_cuda_device_without_bf16_is_an_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    with pytest.raises(ConfigError, match="no bfloat16 support"):
        validate(compose_cfg(["precision=bf16-mixed"]))
    validate(compose_cfg(["precision=bf16-mixed", "trainer.accelerator=cpu"]))  # bf16 on CPU is fine
    validate(compose_cfg(["precision=16-mixed"]))                                # fp16 on that GPU is fine


# ---------------------------------------------------------------- end to end: python train.py ...


def train(tmp_path, *overrides):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    return subprocess.run([sys.executable, "train.py", *overrides, "logger=csv", f"hydra.run.dir={tmp_path / 'run'}"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def error_lines(proc) -> list[str]:
    assert "Traceback" not in proc.stdout + proc.stderr
    return [line for line in proc.stderr.splitlines() if line.startswith("error:")]


def test_train_py_reports_unknown_rail_in_one_line(tmp_path):
    proc = train(tmp_path, "rail.order=[one_glance,bogus]")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == error_lines(proc) == [
        "error: rail.order has unknown rail(s) ['bogus']; known rails: ['one_glance', 'policy', 'beam']"]


@pytest.mark.skipif(not NO_CUDA, reason="checks the CPU-only case")
def test_train_py_reports_fp16_on_cpu_in_one_line(tmp_path):
    proc = train(tmp_path, "precision=16-mixed")
    assert proc.returncode == 2
    assert len(error_lines(proc)) == 1 and proc.stderr.strip().splitlines() == error_lines(proc)
    assert "precision 16-mixed needs a CUDA GPU" in proc.stderr


def test_train_py_reports_a_bad_task_in_strict_mode_in_one_line(tmp_path):
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    good = {"train": [{"input": [[1]], "output": [[2]]}], "test": [{"input": [[3]]}]}
    (tasks / "good.json").write_text(json.dumps(good))
    (tasks / "bad.json").write_text(json.dumps({**good, "test": [{"input": [[1, 2], [3]]}]}))
    proc = train(tmp_path, "data=folder", f"data.path={tasks}", "data.test.strict=true", "fit=false")
    assert proc.returncode == 2
    assert error_lines(proc) == [f"error: task 'bad' in {tasks / 'bad.json'}: field test[0].input[1]: "
                                 "ragged grid: row has 1 cells, row 0 has 2"]
    assert proc.stderr.strip().splitlines()[-1] == error_lines(proc)[0]
