"""Profiler check: device-to-host copies and stream synchronisations inside the evaluation forward (must be 0).

    python benchmarks/profile_forward.py [--device cuda] [--batches 1 16] [overrides]

Profiles a window of evaluation forwards (after warm-up) with torch.profiler and counts, inside the
``topas_forward`` range, the `Memcpy DtoH` GPU events and the `cudaStreamSynchronize`/`cudaDeviceSynchronize`
CPU calls. Writes the counts to docs/PERFORMANCE.md.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile

import torch
from torch.profiler import ProfilerActivity, profile, record_function

from common import build_model, device_name, eval_batch, write_section

SYNC_CALLS = ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaEventSynchronize")


def count_host_reads(model, inputs, steps: int = 2) -> dict[str, int]:
    """Counts of DtoH copies and sync calls within the forward ranges of ``steps`` profiled forwards.

    The trace is read from its Chrome-trace export (``prof.events()`` builds a Python object per event, which
    takes minutes for the ~10^5 kernel launches of a depth-3 search)."""
    with torch.no_grad():
        model(inputs)                                      # warm-up outside the window
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            with record_function("topas_forward"), torch.no_grad():
                model(inputs)
        torch.cuda.synchronize()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "trace.json")
        prof.export_chrome_trace(path)
        with open(path) as f:
            events = [e for e in json.load(f)["traceEvents"] if e.get("ph") == "X"]
    windows = [(e["ts"], e["ts"] + e["dur"]) for e in events
               if e["name"] == "topas_forward" and e.get("cat") == "user_annotation"]
    cpu_inside = [e for e in events if any(s <= e["ts"] and e["ts"] + e.get("dur", 0) <= t for s, t in windows)]
    syncs = sum(1 for e in cpu_inside if e["name"] in SYNC_CALLS)
    dtoh_launch = sum(1 for e in cpu_inside if e["name"].startswith("cudaMemcpy") and "DtoH" in e["name"])
    dtoh = sum(1 for e in events if "Memcpy DtoH" in e["name"])      # the whole window holds only forwards
    launches = sum(1 for e in events if e.get("cat") == "kernel")
    return {"forwards": len(windows), "memcpy_dtoh": dtoh, "sync_calls": syncs, "dtoh_launch": dtoh_launch,
            "kernels": launches}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    cfg, model = build_model(args.overrides, args.device)
    lines = [f"Device: {device_name(args.device)}; rails {list(cfg.rail.order)} depth {cfg.rail.depth}, EBR gate "
             f"{cfg.model.ebr.gate}. Command: `python benchmarks/profile_forward.py --batches "
             f"{' '.join(map(str, args.batches))} {' '.join(args.overrides)}`", "",
             "| batch | forwards profiled | GPU kernels in window | Memcpy DtoH events | cudaStream/Device/EventSynchronize calls |",
             "|---|---|---|---|---|"]
    for b in args.batches:
        c = count_host_reads(model, eval_batch(b, 3, args.device))
        lines.append(f"| {b} | {c['forwards']} | {c['kernels']} | {c['memcpy_dtoh']} | {c['sync_calls']} |")
        print(lines[-1], flush=True)
    if not args.no_write:
        write_section("profile_forward", "## Profiler check: host reads inside the forward\n\n" + "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
