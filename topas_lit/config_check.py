"""Check a composed config before anything is built: ``validate(cfg)`` raises ``ConfigError`` with a one-line
cause for values that cannot work (unknown rail, negative count, a precision the device cannot run, unknown
compile mode or EBR gate, a data spec that cannot load). train.py prints it as ``error: <cause>``."""
from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from topas_lit.capture import MODES as COMPILE_MODES
from topas_lit.data.datamodule import SEARCH
from topas_lit.data.tasks import check_source
from topas_lit.errors import ConfigError
from topas_lit.lit_module import NONFINITE_POLICIES
from topas_lit.modules.dsl.search import SEARCH_RAILS
from topas_lit.modules.ebr import GATES
from topas_lit.modules.seq.model import COMPILE_MODES as SEQ_COMPILE_MODES
from topas_lit.search.rails import ENGINES

__all__ = ["ConfigError", "validate"]

# key -> smallest allowed value (integers); keys absent from the config are skipped
COUNTS = {
    "rail.depth": 1, "rail.beam_width": 1, "rail.policy_topk": 1, "rail.answers_kept": 1, "rail.chunk_cells": 1,
    "rail.tasks_per_call": 1, "rail.cpu_threads": 1, "rail.cpu_workers": 1, "rail.call_overhead_cells": 0,
    "module.ttt.steps": 0, "module.ttt.batch_size": 1, "module.ttt.tasks_at_once": 1,
    "module.eval.n_augment": 1, "module.eval.search_augmentations": 0,
    "data.batch_size": 1, "data.task_batch_size": 1, "data.max_demos": 1, "data.max_train_demos": 1,
    "data.num_workers": 0, "model.ebr.steps": 0, "trainer.max_epochs": -1, "module.nonfinite_check_every": 1,
}
PRECISIONS = ("64-true", "32-true", "16-true", "bf16-true", "16-mixed", "bf16-mixed")
SHORT_PRECISIONS = {"64": "64-true", "32": "32-true", "16": "16-mixed", "bf16": "bf16-mixed"}  # Lightning's aliases
TTT_WHEN_VERIFIED = ("skip", "run")
MATMUL_PRECISIONS = ("highest", "high", "medium")     # torch.set_float32_matmul_precision


def _is_sequence_model(cfg: DictConfig) -> bool:
    return str(OmegaConf.select(cfg, "model._target_", default="")).endswith("TopasSeqModel")


def validate(cfg: DictConfig) -> None:
    """Raise ``ConfigError`` naming the first key whose value cannot work."""
    _check_rails(cfg.rail.order)
    for key, least in COUNTS.items():
        _check_count(cfg, key, least)
    _check_device(cfg.trainer)
    _check_choice(cfg, "model.compile", SEQ_COMPILE_MODES if _is_sequence_model(cfg) else COMPILE_MODES)
    _check_choice(cfg, "model.ebr.gate", GATES)
    _check_choice(cfg, "callbacks.ebr_gate.train", GATES)
    _check_choice(cfg, "callbacks.ebr_gate.eval", GATES)
    if OmegaConf.select(cfg, "callbacks.ebr_gate.ttt") is not None:
        _check_choice(cfg, "callbacks.ebr_gate.ttt", GATES)
    _check_choice(cfg, "rail.ttt_when_verified", TTT_WHEN_VERIFIED)
    _check_choice(cfg, "rail.engine", ENGINES)
    _check_choice(cfg, "module.nonfinite", NONFINITE_POLICIES)
    _check_choice(cfg, "matmul_precision", MATMUL_PRECISIONS)
    _check_data(cfg.data)


def _check_rails(order) -> None:
    if not (OmegaConf.is_list(order) or isinstance(order, list)):
        raise ConfigError(f"rail.order must be a list of rails from {list(SEARCH_RAILS)}, got {order!r}")
    unknown = [r for r in order if r not in SEARCH_RAILS]
    if unknown:
        raise ConfigError(f"rail.order has unknown rail(s) {unknown}; known rails: {list(SEARCH_RAILS)}")
    if len(set(order)) != len(order):
        raise ConfigError(f"rail.order names a rail twice: {list(order)}")


def _check_count(cfg: DictConfig, key: str, least: int) -> None:
    value = OmegaConf.select(cfg, key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ConfigError(f"{key} must be an integer >= {least}, got {value!r}")


def _check_choice(cfg: DictConfig, key: str, allowed: tuple) -> None:
    value = OmegaConf.select(cfg, key, default=allowed[0])
    if value not in allowed:
        raise ConfigError(f"{key} must be one of {list(allowed)}, got {value!r}")


def _check_device(trainer: DictConfig) -> None:
    """The accelerator exists and the precision runs on it (Lightning would turn fp16 on CPU into bf16)."""
    accelerator = str(trainer.get("accelerator", "auto"))
    cuda = torch.cuda.is_available()
    if accelerator in ("gpu", "cuda") and not cuda:
        raise ConfigError(f"trainer.accelerator={accelerator} but no CUDA GPU is available "
                          "(use trainer.accelerator=cpu)")
    raw = str(trainer.get("precision", "32-true"))
    precision = SHORT_PRECISIONS.get(raw, raw)
    if precision not in PRECISIONS:
        raise ConfigError(f"trainer.precision must be one of {list(PRECISIONS)}, got {raw!r}")
    on_cuda = cuda and accelerator in ("gpu", "cuda", "auto")
    on_cpu = accelerator == "cpu" or (accelerator == "auto" and not cuda and not torch.backends.mps.is_available())
    if precision.startswith("16-") and on_cpu:
        raise ConfigError(f"precision {precision} needs a CUDA GPU and none is in use (accelerator={accelerator}); "
                          "use precision=32-true or precision=bf16-mixed on CPU")
    if precision.startswith("bf16-") and on_cuda and not torch.cuda.is_bf16_supported():
        raise ConfigError(f"precision {precision}: this CUDA GPU has no bfloat16 support; "
                          "use precision=16-mixed or 32-true")


def _check_data(data: DictConfig) -> None:
    """No ``???`` left in the data group, and both data specs can load (the test spec as the datamodule builds it)."""
    for key in data:
        if OmegaConf.is_missing(data, key):
            raise ConfigError(f"data.{key} must be set for this data source, e.g. data.{key}=...")
    _check_program_targets(data.get("program_targets"))
    train = dict(data.train)
    train.pop("drop_overlap", None)           # the contamination guard's setting, not a loader key
    check_source(train, "data.train")
    test = dict(data.test)
    for key in ("path", "solutions"):  # top-level data.path/solutions override the test spec (ARCDataModule)
        if data.get(key) is not None:
            test[key] = data[key]
    check_source(test, "data.test")


def _check_program_targets(value) -> None:
    """null, ``search`` or a JSON file that exists."""
    if value is None or value == SEARCH:
        return
    if not Path(str(value)).is_file():
        raise ConfigError(f"data.program_targets must be null, {SEARCH!r} or a JSON file of program targets; "
                          f"{value!r} is not a file")
