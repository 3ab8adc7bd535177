"""The evaluator: the evaluation path of a test run, end to end.

    tasks (no test outputs) -> each source's candidates -> votes -> final attempts + each source's own top 2
        -> scoring (the only reader of the answer key) -> one record per task, written as soon as it is known
        -> at the end, on rank 0: the merge of every rank's records into submission.json, results.jsonl,
           report.json and report.html

Lightning's test loop drives it: the LightningModule's ``on_test_start`` calls ``start``, each ``test_step`` hands
its batch of tasks to ``evaluate``, ``on_test_end`` calls ``finish``. Under DDP each rank evaluates the tasks its
sampler gives it (each task on one rank) and appends to its own record file; ``finish`` merges them on rank 0.

Resume: a task with a record in ``<run>/eval`` is not evaluated again. Every record carries the fingerprint of
what decided its predictions (``topas_lit.eval.fingerprint``); a run whose fingerprint differs from the folder's
records stops before any work (``check_config`` before training, ``start`` before the first task) with an error
naming what changed.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from topas_lit.data.tasks import Task
from topas_lit.errors import ConfigError
from topas_lit.eval.fingerprint import Fingerprint, config_parts, mismatch, weights_digest
from topas_lit.eval.report_html import write_report_html
from topas_lit.eval.results import ResultStore, read_records, summarize
from topas_lit.eval.scoring import Scorer
from topas_lit.eval.sources import EvalContext, build_sources
from topas_lit.eval.voting import Candidate, two_attempts, vote

log = logging.getLogger(__name__)

# the callbacks that shape predictions by design, and what a run without each one does instead
ABSENT = {
    "ebr_gate": "evaluation and post-TTT predictions run under the model's own EBR gate (model.ebr.gate = {gate})",
    "dream_buffer": "training dream tokens did not feed the DreamEngine (its memory is what the weights hold)",
}


def prediction_callbacks(callbacks, model) -> dict:
    """``{key: settings}`` of the attached callbacks that shape predictions (those with ``prediction_settings``),
    and for each known one that is absent while the model has what it would shape, what happens without it."""
    found = {cb.prediction_key: cb.prediction_settings() for cb in callbacks if hasattr(cb, "prediction_settings")}
    gate = getattr(getattr(model, "ebr", None), "gate", None)
    shaped = {"ebr_gate": gate is not None, "dream_buffer": hasattr(model, "dream")}   # what the model has to shape
    for key, text in ABSENT.items():
        if shaped[key]:
            found.setdefault(key, "absent: " + text.format(gate=gate))
    return found


class Evaluator:
    def __init__(self, sources: list, run_dir: str | Path, config: dict | None = None):
        """``sources``: candidate sources, run in this order; ``config``: the prediction-deciding settings from the
        composed config (``fingerprint.config_parts``), to which ``start`` adds the weights and callbacks."""
        self.sources = sources
        self.run_dir = Path(run_dir)
        self.config = dict(config or {})
        self.store: ResultStore | None = None
        self.scorer: Scorer | None = None
        self.fingerprint: Fingerprint | None = None
        self.callbacks: dict = {}
        self.done: set[str] = set()
        self.task_order: list[str] = []
        self.rejected: list[str] = []
        self.tasks: dict[str, Task] = {}
        self.tally = [0, 0]            # test inputs solved, scored (this rank, this run)
        self.report: dict | None = None

    @classmethod
    def from_config(cls, cfg: DictConfig) -> "Evaluator":
        ev = OmegaConf.to_container(cfg.module.eval, resolve=True)
        settings = {"eval": ev, "ttt": OmegaConf.to_container(cfg.module.ttt, resolve=True),
                    "rail": OmegaConf.to_container(cfg.rail, resolve=True),
                    # context sizes of the slot model's sources (the sequence solver's data has none)
                    "max_demos": OmegaConf.select(cfg, "data.max_demos", default=10),
                    "context_demos": OmegaConf.select(cfg, "data.max_train_demos", default=3)}
        return cls(build_sources(ev["sources"], settings), ev["run_dir"], config_parts(cfg))

    @property
    def folder(self) -> Path:
        return self.run_dir / "eval"

    def _stop(self, reason: str) -> ConfigError:
        return ConfigError(f"{reason}. Re-running into {self.run_dir} would mix the two in one report. Start fresh "
                           f"with a new hydra.run.dir=..., or delete {self.folder} to evaluate again there.")

    def check_config(self) -> None:
        """Before any work (training included): stop if the folder's records were made under other config
        settings. The weights and callbacks are checked by ``start``."""
        reason = mismatch(read_records(self.folder), Fingerprint(self.config), self.folder, only=tuple(self.config))
        if reason:
            raise self._stop(reason)

    # ---- test start ---------------------------------------------------------------------------------------------
    def start(self, module) -> None:
        """Bind to the test run: the answer key (for scoring only), the fingerprint, this rank's record file,
        the finished tasks, and each source's model/device."""
        trainer = module.trainer
        test_set = trainer.datamodule.test_set
        self.task_order = [t.id for t in test_set.tasks]
        self.tasks = {t.id: t for t in test_set.tasks}
        self.rejected = [str(r) for r in test_set.rejected]
        self.scorer = Scorer(test_set.solutions)
        self.callbacks = prediction_callbacks(trainer.callbacks, module.model)
        self.fingerprint = Fingerprint({**self.config, "weights": weights_digest(module.model),
                                        "callbacks": self.callbacks})
        self.store = ResultStore(self.run_dir, trainer.global_rank)
        records = self.store.read_all()
        reason = mismatch(records, self.fingerprint, self.store.folder)
        if reason:
            raise self._stop(reason)
        if not records:
            self.fingerprint.write(self.store.folder)
        self.done = set(records)
        self.tally = [0, 0]
        ctx = EvalContext(module, module.model, module.infer, module.device, self.callbacks)
        for source in self.sources:
            if hasattr(source, "start"):
                source.start(ctx)

    # ---- a batch of tasks ---------------------------------------------------------------------------------------
    def evaluate(self, tasks: list[Task]) -> list[dict]:
        """Evaluate the tasks not finished yet; write and return their records."""
        todo = [t for t in tasks if t.id not in self.done]
        if not todo:
            return []
        cands: dict[str, list] = {}
        infos: dict[str, list[dict]] = {}
        seconds = [0.0] * len(todo)
        for source in self.sources:
            give = [i for i, t in enumerate(todo)
                    if not (getattr(source, "skip_verified", False) and verified_everywhere(t, i, cands))]
            t0 = time.perf_counter()
            got = source([todo[i] for i in give]) if give else []
            share = (time.perf_counter() - t0) / max(1, len(give))
            info = getattr(source, "task_info", None)
            info = info if isinstance(info, list) and len(info) == len(give) else [{} for _ in give]
            cands[source.name] = [[[] for _ in t.test_inputs] for t in todo]
            infos[source.name] = [{"skipped": "verified"} for _ in todo]
            for j, i in enumerate(give):
                cands[source.name][i], infos[source.name][i] = got[j], dict(info[j])
                seconds[i] += share
        records = []
        for i, task in enumerate(todo):
            t1 = time.perf_counter()
            record = self.task_record(task, {n: c[i] for n, c in cands.items()}, {n: f[i] for n, f in infos.items()})
            self.scorer.score(record)                       # predictions are final: now the answers may be read
            record["seconds"] = seconds[i] + time.perf_counter() - t1
            record["rank"] = self.store.rank
            record["fingerprint"] = self.fingerprint.stamp()
            self.store.append(record)
            self.done.add(task.id)
            if record["correct"] is not None:
                self.tally[0] += sum(record["correct"])
                self.tally[1] += len(record["correct"])
            ttt = record.get("ttt") or {}
            log.info("task %s: answered by %s (%s), TTT %s, correct %s, %.1fs", task.id, record["answered_by"],
                     record["rails"], ttt.get("skipped") or f"{ttt.get('steps', 0)} steps", record["correct"],
                     record["seconds"])
            records.append(record)
        return records

    def task_record(self, task: Task, cands: dict[str, list[list[Candidate]]], infos: dict[str, dict]) -> dict:
        """The record of one task: final attempts from the vote over every source's candidates (less those a
        source replaces where it answered), and each source's own top-2 attempts. Not yet scored."""
        sources = {name: {**summary_of([vote(c, 2) for c in per_input]), "candidates": [len(c) for c in per_input],
                          "info": infos[name]} for name, per_input in cands.items()}
        dropped = {s.replaces for s in self.sources
                   if getattr(s, "replaces", None) and any(cands[s.name])}
        pooled = [[c for name in cands if name not in dropped for c in cands[name][n]]
                  for n in range(len(task.test_inputs))]
        final = summary_of([vote(c, 2) for c in pooled])
        errors = [f"{name}: {info['error']}" for name, info in infos.items() if info.get("error")]
        ttt = next((infos[s.name] for s in self.sources if getattr(s, "adapts", False) and s.name in infos), None)
        return {"task_id": task.id, **final, "sources": sources, "error": "; ".join(errors) or None, "ttt": ttt}

    def running_pass_at_2(self) -> float | None:
        """pass@2 per test input over what this rank has scored so far in this run (for the progress bar)."""
        return self.tally[0] / self.tally[1] if self.tally[1] else None

    # ---- end of the test ----------------------------------------------------------------------------------------
    def finish(self, trainer) -> dict | None:
        """After every rank is done: on rank 0, merge the records into submission.json, results.jsonl,
        report.json and report.html; returns the report there (None on other ranks)."""
        trainer.strategy.barrier()
        if not trainer.is_global_zero:
            return None
        extra = {"figures": "top level: the final answers (every source's candidates voted together); 'sources': "
                            "each candidate source alone, from its own top-2 attempts in the same records",
                 "sources_run": [s.name for s in self.sources], "prediction_callbacks": self.callbacks,
                 "fingerprint": self.fingerprint.stamp(),
                 "ttt_enabled": bool((self.config.get("ttt") or {}).get("enabled")),
                 "world_size": trainer.world_size, "by_set": self.by_set(read_records(self.folder))}
        self.report = self.store.merge(self.task_order, self.rejected, extra=extra)
        write_report_html(self.run_dir / "report.html", self.report, read_records(self.folder), self.tasks,
                          self.task_order, settings={**self.config, "callbacks": self.callbacks})
        return self.report


    def by_set(self, records: dict[str, dict]) -> dict:
        """The summary per set the evaluated tasks came from (``Task.source``: the file and split), when there are
        several (ARC-AGI-1 and ARC-AGI-2 evaluation in one run)."""
        groups: dict[str, list[dict]] = {}
        for tid in self.task_order:
            if tid in records:
                source = Path(self.tasks[tid].source).name
                groups.setdefault(source, []).append(records[tid])
        if len(groups) < 2:
            return {}
        return {name: {k: v for k, v in summarize(recs).items() if k not in ("tasks_failed", "rail_freq")}
                for name, recs in groups.items()}


def verified_everywhere(task: Task, i: int, cands: dict[str, list]) -> bool:
    """Every test input of task i already has a verified candidate from the sources run so far."""
    return bool(cands) and all(any(c.verified for per_task in cands.values() for c in per_task[i][n])
                               for n in range(len(task.test_inputs)))


def summary_of(votes: list[list]) -> dict:
    """Per test input: two attempts (none where nothing was proposed), and the rail, program, source and verified
    flag of the top vote ("none" where nothing was proposed)."""
    top = [vs[0] if vs else None for vs in votes]
    return {"attempts": [two_attempts(vs) for vs in votes],
            "rails": [v.rail if v else "none" for v in top],
            "programs": [v.program if v else "none" for v in top],
            "answered_by": [v.source if v else "none" for v in top],
            "verified": [bool(v and v.verified) for v in top]}
