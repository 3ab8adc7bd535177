"""Every config group option and experiment composes, and its objects resolve to importable targets."""
from pathlib import Path

import pytest
from hydra.utils import get_class, instantiate
from omegaconf import OmegaConf

from conftest import CONF, compose_cfg

GROUPS = ["data", "model", "trainer", "callbacks", "logger", "rail", "precision"]
REQUIRED = {"data=folder": ["data.path=/tmp"], "data=kaggle": ["data.path=/tmp/c.json"]}


def options(group):
    return sorted(p.stem for p in (Path(CONF) / group).glob("*.yaml"))


@pytest.mark.parametrize("override", [f"{g}={o}" for g in GROUPS for o in options(g)])
def test_group_option_composes(override):
    cfg = compose_cfg([override] + REQUIRED.get(override, []))
    resolved = OmegaConf.to_container(cfg, resolve=True)
    for key in ("data", "model", "trainer", "module"):
        get_class(resolved[key]["_target_"])
    for section in ("callbacks", "logger"):
        for obj in (resolved.get(section) or {}).values():
            get_class(obj["_target_"])


@pytest.mark.parametrize("experiment", options("experiment"))
def test_experiment_composes(experiment):
    cfg = compose_cfg([f"+experiment={experiment}"])
    OmegaConf.to_container(cfg, resolve=True)
    assert "experiment" not in cfg          # `+experiment=` works because the defaults list has no entry


def test_ttt_experiment_turns_ttt_on():
    cfg = compose_cfg(["+experiment=ttt"])
    assert cfg.module.ttt.enabled and cfg.module.ttt.steps > 0 and cfg.trainer.inference_mode is False


def test_tiny_model_and_datamodule_instantiate(tiny_cfg):
    model = instantiate(tiny_cfg.model, _convert_="all")
    assert sum(p.numel() for p in model.parameters()) < 2_000_000
    dm = instantiate(tiny_cfg.data)
    assert dm.test_cfg["limit"] > 0
