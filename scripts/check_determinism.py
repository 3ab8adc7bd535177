"""Two runs of the same command with ``trainer.deterministic=true``, compared bit for bit.

    python scripts/check_determinism.py [--out outputs/determinism] -- [overrides, e.g. +experiment=gpu ...]

Runs ``python train.py trainer.deterministic=true <overrides> hydra.run.dir=<out>/run_a`` and again into
``run_b``, then compares what the runs wrote: the final weights (``checkpoints/last.ckpt``, every tensor), the
per-task records (every field but wall times), ``submission.json`` (bytes), ``report.json`` (every field but wall
times) and ``report.html`` (bytes, with the run folder's name and wall times taken out). Prints one line per
artefact, equal or the first difference (task, field), the setting (device, torch version, overrides), and exits
1 when anything differs. On a GPU, e.g. (about 5 minutes on one H200):

    python scripts/check_determinism.py -- +experiment=gpu trainer.max_epochs=1 +trainer.limit_train_batches=100 \
        data.test.limit=20 module.ttt.enabled=true logger=csv
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def drop_timing(obj):
    """Everything but wall-time fields (keys naming seconds)."""
    if isinstance(obj, dict):
        return {k: drop_timing(v) for k, v in obj.items() if "seconds" not in k}
    if isinstance(obj, list):
        return [drop_timing(v) for v in obj]
    return obj


def first_difference(a, b, path: str = "") -> str | None:
    """The first key path where two JSON values differ, or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            found = first_difference(a.get(k, "<absent>"), b.get(k, "<absent>"), f"{path}.{k}" if path else str(k))
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if a == b else path or "<value>"


def compare_weights(a: Path, b: Path) -> str | None:
    import torch

    if not a.exists() and not b.exists():
        return None
    if not (a.exists() and b.exists()):
        return f"only one run wrote {a.name}"
    sa = torch.load(a, map_location="cpu", weights_only=True)["state_dict"]
    sb = torch.load(b, map_location="cpu", weights_only=True)["state_dict"]
    if sa.keys() != sb.keys():
        return "different tensor names"
    differ = [k for k in sa if not torch.equal(sa[k], sb[k])]
    if differ:
        worst = max(differ, key=lambda k: (sa[k].float() - sb[k].float()).abs().max().item())
        gap = (sa[worst].float() - sb[worst].float()).abs().max().item()
        return f"{len(differ)} of {len(sa)} tensors differ (largest gap {gap:.3g} in {worst})"
    return None


def records(run: Path) -> dict[str, dict]:
    lines = (run / "results.jsonl").read_text().splitlines()
    return {r["task_id"]: drop_timing(r) for r in map(json.loads, lines)}


def compare_records(a: Path, b: Path) -> str | None:
    ra, rb = records(a), records(b)
    if ra.keys() != rb.keys():
        return f"different tasks: {sorted(set(ra) ^ set(rb))[:5]}"
    differ = [t for t in ra if ra[t] != rb[t]]
    if differ:
        where = first_difference(ra[differ[0]], rb[differ[0]])
        return f"{len(differ)} of {len(ra)} tasks differ; first: task {differ[0]} at {where}"
    return None


def html_text(run: Path) -> str:
    text = (run / "report.html").read_text()
    text = text.replace(str(run), "<run>")
    return re.sub(r"&quot;seconds&quot;: [0-9.e-]+", "seconds", text)


def compare(a: Path, b: Path) -> dict[str, str | None]:
    """Artefact -> None (bitwise equal, wall times aside) or the first difference."""
    out = {"weights (checkpoints/last.ckpt)": compare_weights(a / "checkpoints" / "last.ckpt",
                                                            b / "checkpoints" / "last.ckpt"),
           "per-task records (results.jsonl)": compare_records(a, b)}
    sub = [(r / "submission.json").read_bytes() for r in (a, b)]
    out["submission.json"] = None if sub[0] == sub[1] else "bytes differ"
    rep = [drop_timing(json.loads((r / "report.json").read_text())) for r in (a, b)]
    out["report.json"] = None if rep[0] == rep[1] else f"differs at {first_difference(*rep)}"
    out["report.html"] = None if html_text(a) == html_text(b) else "differs (run folder and wall times aside)"
    return out


def run(out: Path, name: str, overrides: list[str]) -> Path:
    run_dir = out / name
    cmd = [sys.executable, "train.py", "trainer.deterministic=true", *overrides, f"hydra.run.dir={run_dir}"]
    env = dict(os.environ, CUBLAS_WORKSPACE_CONFIG=":4096:8")   # cuBLAS's reproducible workspace (as Lightning's)
    print("$", " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"run {name} failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return run_dir


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "outputs" / "determinism")
    ap.add_argument("--compare-only", action="store_true", help="compare <out>/run_a and <out>/run_b as they are")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args(argv)
    if args.compare_only:
        a, b = args.out / "run_a", args.out / "run_b"
    else:
        for name in ("run_a", "run_b"):
            if (args.out / name).exists():
                sys.exit(f"{args.out / name} exists: pick another --out (a re-run into it would resume, not rerun)")
        a, b = run(args.out, "run_a", args.overrides), run(args.out, "run_b", args.overrides)
    import torch

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    print(f"setting: {device}; torch {torch.__version__}; trainer.deterministic=true {' '.join(args.overrides)}")
    result = compare(a, b)
    for what, diff in result.items():
        print(f"{what:36s} {'bitwise equal' if diff is None else 'DIFFERS: ' + diff}")
    same = all(d is None for d in result.values())
    print("identical" if same else "the runs differ")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
