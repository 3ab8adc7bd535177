"""Load: one evaluation run over every ARC-AGI-1 and ARC-AGI-2 evaluation task (scripts/load_test.py, data=eval_all)
completes on the CPU with a record for every task, no task error, and peak memory under a fixed bound.

Cheapest honest settings (the test checks completion, records and memory, not the score): the tiny model with
random weights, rail depth 1, one voting pass. The script's defaults (depth 2, 4 passes) take ~3x as long; README
"Reliability" lists both measurements.
"""
import json
import os
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from conftest import ROOT, compose_cfg

# measured on the 2-core CI machine: ~0.4 GiB peak RSS; a leak of a few MiB per task over ~500 tasks would
# pass 1 GiB, while ordinary variation (allocator, thread pools, bigger ARC-AGI-2 grids) stays well below it
PEAK_RSS_BOUND_MIB = 1024


@pytest.mark.slow
def test_evaluation_over_all_arc1_and_arc2_evaluation_tasks(tmp_path):
    from topas_lit.data.tasks import load_taskset

    cmd = [sys.executable, "scripts/load_test.py", "--out", str(tmp_path), "rail.depth=1", "module.eval.n_augment=1"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    figures = json.loads((tmp_path / "load_test.json").read_text())
    print(figures)                                                    # pytest -s shows the measurement

    expected = load_taskset(**OmegaConf.to_container(compose_cfg(["data=eval_all"]).data.test, resolve=True))
    ids = [t.id for t in expected.tasks]
    assert len(ids) > 500                                             # 400 + 120, less the ids both sets hold
    records = [json.loads(l) for l in (tmp_path / "eval" / "tasks.rank0.jsonl").read_text().splitlines()]
    assert sorted(r["task_id"] for r in records) == sorted(ids)       # every task once
    assert all(r["error"] is None for r in records)
    assert all(len(r["attempts"]) == len(t.test_inputs) for r, t in
               zip(sorted(records, key=lambda r: r["task_id"]), sorted(expected.tasks, key=lambda t: t.id)))
    assert figures["tasks_evaluated"] == figures["tasks"] == len(ids)
    assert figures["tasks_failed"] == 0 and figures["tasks_missing"] == 0
    assert set(json.loads((tmp_path / "submission.json").read_text())) == set(ids)
    assert figures["peak_rss_mib"] + figures["peak_rss_children_mib"] < PEAK_RSS_BOUND_MIB, figures
