"""Load test: evaluate every ARC-AGI-1 and ARC-AGI-2 evaluation task in one run, and report what it cost.

    python scripts/load_test.py [--out DIR] [hydra overrides ...]

Defaults: ``data=eval_all`` (400 ARC-AGI-1 + 120 ARC-AGI-2 evaluation tasks in one test set), the tiny model
with random weights (``fit=false``: a load test, not a score), CSV logger, no callbacks. Overrides after the
options go to the Hydra config as in ``python train.py``, e.g. ``rail.depth=1 module.eval.n_augment=1`` for the
cheapest honest run (what tests/test_load.py uses). Prints tasks evaluated, tasks with an error, wall time and
peak resident memory (``getrusage`` ru_maxrss of this process, and of its children if any), and writes the same
figures to ``<out>/load_test.json``. Exit status 1 when a task is missing or failed.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULTS = ["data=eval_all", "fit=false", "logger=csv", "callbacks=none"]


def peak_rss_mib() -> tuple[float, float]:
    """Peak resident set size of this process and of its waited-for children, in MiB (Linux: ru_maxrss in KiB)."""
    scale = 1 / 1024 if sys.platform != "darwin" else 1 / 2**20
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * scale
    return own, children


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=None, help="run folder (default: a new temporary folder)")
    args, overrides = parser.parse_known_args(argv)
    out = Path(args.out or tempfile.mkdtemp(prefix="topas-load-"))
    out.mkdir(parents=True, exist_ok=True)

    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=DEFAULTS + overrides)
    OmegaConf.set_struct(cfg, False)
    cfg.out_dir = str(out)

    from topas_lit.config_check import validate
    from topas_lit.run import run

    validate(cfg)
    t0 = time.perf_counter()
    report = run(cfg)
    wall = time.perf_counter() - t0
    own, children = peak_rss_mib()
    n_tasks = report["tasks_evaluated"] + len(report["tasks_missing"])
    figures = {
        "tasks": n_tasks, "tasks_evaluated": report["tasks_evaluated"], "tasks_missing": len(report["tasks_missing"]),
        "tasks_failed": len(report["tasks_failed"]), "rejected_tasks": len(report["rejected_tasks"]),
        "test_inputs": report["test_inputs"], "wall_seconds": round(wall, 1),
        "seconds_per_task": round(wall / max(1, report["tasks_evaluated"]), 3),
        "peak_rss_mib": round(own, 1), "peak_rss_children_mib": round(children, 1),
        "torch_threads": __import__("torch").get_num_threads(), "cpu_count": os.cpu_count(),
        "overrides": DEFAULTS + overrides,
    }
    (out / "load_test.json").write_text(json.dumps(figures, indent=2))
    print(f"load test: {figures['tasks_evaluated']}/{n_tasks} tasks evaluated ({figures['test_inputs']} test inputs), "
          f"{figures['tasks_failed']} with an error, {figures['rejected_tasks']} rejected at load; "
          f"wall {wall:.1f} s ({figures['seconds_per_task']} s/task); peak RSS {own:.0f} MiB "
          f"(children {children:.0f} MiB); run folder {out}")
    return 1 if figures["tasks_missing"] or figures["tasks_failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
