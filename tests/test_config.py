"""Every config group option and experiment composes, and its objects resolve to importable targets; every
several-device command of the README composes to the trainer its run chose, plus DDP."""
import re
import shlex
from pathlib import Path

import pytest
from hydra.utils import get_class, instantiate
from omegaconf import OmegaConf

from conftest import CONF, ROOT, compose_cfg

GROUPS = ["data", "module", "model", "trainer", "callbacks", "logger", "rail", "precision", "strategy"]
SEQ = ["module=seq", "model=seq_tiny", "data=seq_arc1", "callbacks=seq"]     # the sequence solver's groups go together
REQUIRED = {"data=folder": ["data.path=/tmp"], "data=kaggle": ["data.path=/tmp/c.json"],
            **{o: SEQ for o in ("module=seq", "model=seq_tiny", "model=seq_75m", "data=seq_arc1", "data=seq_dev",
                                "data=seq_eval_all", "callbacks=seq")}}


def options(group):
    return sorted(p.stem for p in (Path(CONF) / group).glob("*.yaml"))


@pytest.mark.parametrize("override", [f"{g}={o}" for g in GROUPS for o in options(g)])
def test_group_option_composes(override):
    cfg = compose_cfg([o for o in REQUIRED.get(override, []) if o.split("=")[0] != override.split("=")[0]] + [override])
    resolved = OmegaConf.to_container(cfg, resolve=True)
    for key in ("data", "model", "trainer", "module"):
        get_class(resolved[key]["_target_"])
    for section in ("callbacks", "logger"):
        for obj in (resolved.get(section) or {}).values():
            if obj is not None:                 # a group may switch a default callback off with null
                get_class(obj["_target_"])


@pytest.mark.parametrize("experiment", options("experiment"))
def test_experiment_composes(experiment):
    cfg = compose_cfg([f"+experiment={experiment}"])
    OmegaConf.to_container(cfg, resolve=True)
    assert "experiment" not in cfg          # `+experiment=` works because the defaults list has no entry


def test_ttt_experiment_turns_ttt_on():
    cfg = compose_cfg(["+experiment=slot_ttt"])
    assert cfg.module.ttt.enabled and cfg.module.ttt.steps > 0 and cfg.trainer.inference_mode is False


def test_tiny_model_and_datamodule_instantiate(tiny_cfg):
    model = instantiate(tiny_cfg.model, _convert_="all")
    assert sum(p.numel() for p in model.parameters()) < 2_000_000
    dm = instantiate(tiny_cfg.data)
    assert dm.test_cfg["limit"] > 0


# ---- several devices: the README's commands keep the trainer their run chose ------------------------------------
DISTRIBUTION = ("strategy=", "trainer.devices=", "+trainer.num_nodes=")


def readme_train_commands() -> list[list[str]]:
    """The Hydra overrides of every `... train.py ...` command in README.md (placeholders like <nodes> -> 2,
    `...` dropped, launcher options before train.py ignored)."""
    text = (ROOT / "README.md").read_text()
    fenced = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)
    inline = re.sub(r"```.*?```", "", text, flags=re.S)
    spans = [line for block in fenced for line in block.splitlines()] + re.findall(r"`([^`]+)`", inline)
    out = []
    for span in [s for s in spans if "train.py" in s and not s.lstrip().startswith("#")]:
        args = shlex.split(re.sub(r"<[^>]+>", "2", span.split("train.py", 1)[1]))
        out.append([a for a in args if a != "..." and "=" in a])
    return out


def several_devices(args: list[str]) -> bool:
    return any(a.startswith("strategy=ddp") for a in args) or any(
        a.startswith(("trainer.devices=", "+trainer.num_nodes=")) and a.split("=")[1] not in ("1", "auto")
        for a in args)


MULTI = [args for args in readme_train_commands() if several_devices(args)]


def test_the_readme_shows_several_device_commands():
    assert len(MULTI) >= 4, MULTI          # one node GPUs, CPU processes (gloo), SLURM, torchrun
    assert any("+experiment=gpu" in args for args in MULTI)


@pytest.mark.parametrize("args", MULTI, ids=[" ".join(a) for a in MULTI])
def test_readme_several_device_command_keeps_its_trainer_and_adds_ddp(args):
    """The command composes to the trainer the run chose without the distribution settings (epochs, determinism,
    accelerator, precision...), with only the strategy, devices and nodes changed."""
    cfg = compose_cfg(args)
    alone = compose_cfg([a for a in args if not a.startswith(DISTRIBUTION)])
    trainer = OmegaConf.to_container(cfg.trainer, resolve=True)
    base = OmegaConf.to_container(alone.trainer, resolve=True)
    assert trainer["strategy"] == "ddp", args
    given = dict(a.split("=", 1) for a in args if a.startswith(DISTRIBUTION[1:]))
    assert str(trainer["devices"]) == given.get("trainer.devices", "2")
    assert str(trainer.get("num_nodes", 1)) == given.get("+trainer.num_nodes", "1")
    changed = {k for k in set(trainer) | set(base) if trainer.get(k) != base.get(k)}
    assert changed <= {"strategy", "devices", "num_nodes"}, {k: (base.get(k), trainer.get(k)) for k in changed}
    if "+experiment=gpu" in args:            # the GPU run's own trainer: not the CPU default's
        assert (trainer["max_epochs"], trainer["deterministic"], trainer["accelerator"]) == (20, False, "gpu")
        assert trainer["precision"] == "bf16-mixed"


def test_strategy_overlays_any_trainer():
    for trainer in ("default", "gpu"):
        plain = OmegaConf.to_container(compose_cfg([f"trainer={trainer}"]).trainer)
        ddp = OmegaConf.to_container(compose_cfg([f"trainer={trainer}", "strategy=ddp"]).trainer)
        assert {k: v for k, v in ddp.items() if k not in ("strategy", "devices")} == \
            {k: v for k, v in plain.items() if k not in ("strategy", "devices")}
        assert (ddp["strategy"], ddp["devices"], plain["strategy"]) == ("ddp", 2, "auto")


@pytest.mark.parametrize("args", readme_train_commands(),
                         ids=[" ".join(a) or "(defaults)" for a in readme_train_commands()])
def test_every_readme_train_command_composes(args):
    OmegaConf.to_container(compose_cfg(args), resolve=True)
