"""The fingerprint of an evaluation: everything that decides its predictions, so a resumed run never mixes records
made under other settings into its report.

Parts (each hashed on its own, so a mismatch names the part):
- ``weights``: a content hash of the model's state (parameters and buffers) at the start of the test;
- ``model``, ``rail``, ``voting``, ``sources``, ``ttt``, ``data``, ``precision``: the config settings that decide
  predictions (from the composed Hydra config, see ``config_parts``);
- ``callbacks``: the settings of the callbacks that shape predictions by design (EBR gate, dream buffer), or
  what happens without them.

Every record carries ``{"id": <hash of all parts>, "parts": {part: <hash>}}``; ``<run>/eval/fingerprint.json``
holds the parts themselves, so an error can name the setting that changed and its old and new values.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

FILE = "fingerprint.json"
DATA_KEYS = ("source", "version", "split", "path", "parts")   # which tasks and grids; not start/limit/strict
RAIL_TRAINING_ONLY = ("in_training",)                          # rail settings that only act in training steps
SEQUENCE_DATA_KEYS = ("joint", "holdout", "seed")   # the sequence solver's: which tasks are evaluated, which rows train


def digest(obj) -> str:
    """A short content hash of a JSON-able object (keys sorted)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def weights_digest(model: torch.nn.Module) -> str:
    """Content hash of every tensor in ``model.state_dict()`` (names, dtypes, shapes and bytes). One host copy of
    the weights, once per test start."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().to("cpu").contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def config_parts(cfg: DictConfig) -> dict:
    """The prediction-deciding settings of a composed config, by part."""
    c = OmegaConf.to_container(cfg, resolve=True)
    module, data = c["module"], c["data"]
    voting = {k: v for k, v in module["eval"].items() if k not in ("sources", "run_dir")}
    ttt = dict(module["ttt"]) if module["ttt"].get("enabled") else {"enabled": False}
    if ttt["enabled"] and "max_train_demos" in data:
        ttt["context_demos"] = data["max_train_demos"]     # the slot model's TTT: its leave-one-out context size
    test = data["test"]
    return {
        "model": {k: v for k, v in c["model"].items() if k != "rails"},    # rails: the rail part
        "rail": {k: v for k, v in c["rail"].items() if k not in RAIL_TRAINING_ONLY},
        "voting": voting,
        "sources": list(module["eval"].get("sources") or []),
        "ttt": ttt,
        "data": {"test": {k: test[k] for k in DATA_KEYS if test.get(k) is not None},
                 **{k: data[k] for k in SEQUENCE_DATA_KEYS + ("max_demos",) if k in data},
                 "task_batch_size": data["task_batch_size"]},
        "precision": {"trainer": str(c["trainer"].get("precision")), "matmul": c.get("matmul_precision")},
    }


class Fingerprint:
    def __init__(self, parts: Mapping):
        self.parts = dict(parts)
        self.part_ids = {k: digest(v) for k, v in sorted(self.parts.items())}
        self.id = digest(self.part_ids)

    def stamp(self) -> dict:
        """What each record carries."""
        return {"id": self.id, "parts": self.part_ids}

    def write(self, folder: Path) -> None:
        """``folder/fingerprint.json`` (atomic: every rank may write the same content)."""
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{FILE}.{os.getpid()}"
        tmp.write_text(json.dumps({"id": self.id, "parts": self.parts}, indent=1, sort_keys=True, default=str))
        os.replace(tmp, folder / FILE)


def read_parts(folder: Path) -> dict | None:
    path = Path(folder) / FILE
    if not path.exists():
        return None
    return json.loads(path.read_text())["parts"]


def differences(old: Mapping, new: Mapping, prefix: str = "") -> list[str]:
    """``key: old -> new`` for every leaf that differs between two nested settings (dotted keys)."""
    out = []
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key, "<absent>"), new.get(key, "<absent>")
        name = f"{prefix}{key}"
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += differences(a, b, name + ".")
        elif json.dumps(a, sort_keys=True, default=str) != json.dumps(b, sort_keys=True, default=str):
            out.append(f"{name}: {json.dumps(a, default=str)} -> {json.dumps(b, default=str)}")
    return out


def mismatch(records: Mapping[str, dict], fingerprint: Fingerprint, folder: Path,
             only: tuple[str, ...] | None = None) -> str | None:
    """None when every record was made under ``fingerprint`` (or the folder has none); else the reason, naming
    the parts and settings that differ. ``only``: compare just these parts (the config check before training,
    when the weights are not known yet)."""
    if not records:
        return None
    new_ids = fingerprint.part_ids
    names = set(new_ids) if only is None else set(only)
    stamps = [r.get("fingerprint") for r in records.values()]
    if any(s is None for s in stamps):
        return (f"{sum(s is None for s in stamps)} record(s) in {folder} carry no fingerprint (written before "
                f"fingerprints existed), so their settings are unknown")
    parts = sorted({p for s in stamps for p in names if s["parts"].get(p) != new_ids.get(p)})
    if not parts:
        return None
    old = read_parts(folder)
    lines = [] if old is None else differences({p: old.get(p, "<absent>") for p in parts},
                                               {p: fingerprint.parts.get(p, "<absent>") for p in parts})
    if "weights" in parts and old is not None:
        lines = [ln for ln in lines if not ln.startswith("weights")] + [
            f"weights: content hash {old.get('weights')} -> {fingerprint.parts.get('weights')} "
            f"(another checkpoint or training run)"]
    detail = "; ".join(lines) if lines else f"parts {parts} (no {FILE} with their values)"
    return f"{len(records)} finished task record(s) in {folder} were made with other settings: {detail}"
