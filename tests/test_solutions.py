"""The answer key (test outputs) is read by the evaluator's scoring step alone, after predictions are final.

One in-process evaluation with every candidate source (rails, network, TTT), the callbacks that shape or watch
predictions (EBR gate, dream buffer, rail telemetry) and the host-read guard: every read of the answer key is
traced to the file that made it; then the same evaluation with every answer changed gives the same predictions
(final attempts and each source's own), while the scores follow the answers.
"""
import json
import os
import sysconfig
import traceback
from collections.abc import Mapping
from pathlib import Path

import torch
from hydra.utils import instantiate
from lightning.pytorch import Trainer, seed_everything

from conftest import compose_cfg
from topas_lit.run import build_module

SCORING = str(Path(__file__).resolve().parents[1] / "topas_lit" / "eval" / "scoring.py")
STDLIB = os.path.abspath(sysconfig.get_paths()["stdlib"])
RUN = ["data.test.limit=2", "data.task_batch_size=2", "rail.depth=1", "rail.beam_width=2", "rail.policy_topk=2",
       "module.eval.n_augment=2", "+experiment=slot_ttt", "module.ttt.steps=1", "module.ttt.batch_size=2",
       "rail.ttt_when_verified=run", "model.ebr.steps=1"]
CALLBACKS = ("ebr_gate", "dream_buffer", "rail_telemetry", "sync_guard")


class TracedAnswers(Mapping):
    """The answer key, noting the file of the code that reads it (first frame outside this file and the standard
    library, so Lightning or any other package would be named too)."""

    def __init__(self, answers: dict):
        self._answers = dict(answers)
        self.readers: set[str] = set()

    def _note(self) -> None:
        for frame in reversed(traceback.extract_stack()[:-2]):
            path = os.path.abspath(frame.filename)
            frozen = frame.filename.startswith("<frozen")               # the stdlib's frozen modules
            if path != os.path.abspath(__file__) and not path.startswith(STDLIB) and not frozen:
                self.readers.add(path)
                return

    def __getitem__(self, key):
        self._note()
        return self._answers[key]

    def __iter__(self):
        self._note()
        return iter(self._answers)

    def __len__(self) -> int:
        self._note()
        return len(self._answers)


def evaluate(tmp_path, change_answers: bool):
    cfg = compose_cfg(RUN)
    cfg.module.eval.run_dir = str(tmp_path)
    cfg.callbacks.dream_buffer.sink = "none"
    seed_everything(0)
    dm = instantiate(cfg.data)
    module = build_module(cfg)
    dm.setup("test")
    answers = dm.test_set.solutions
    if change_answers:                                # every answer grid changes: colours shift, one row more
        answers = {t: [[[(v + 1) % 10 for v in row] for row in g] + [g[0]] for g in outs]
                   for t, outs in answers.items()}
    traced = dm.test_set.solutions = TracedAnswers(answers)
    callbacks = [instantiate(cfg.callbacks[k]) for k in CALLBACKS]
    Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False, inference_mode=False,
            accelerator="cpu", callbacks=callbacks).test(module, dm, verbose=False)
    records = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    return records, traced


SCORED = ("correct", "cell_accuracy", "truth", "seconds")


def predictions(record: dict) -> dict:
    """Everything in a record but what scoring added (and the wall time)."""
    out = {k: v for k, v in record.items() if k not in SCORED}
    out["sources"] = {name: {k: v for k, v in part.items() if k not in SCORED and k != "info"}
                      | {"info": {k: v for k, v in part["info"].items() if k != "seconds"}}
                      for name, part in record["sources"].items()}
    out["ttt"] = {k: v for k, v in (record["ttt"] or {}).items() if k != "seconds"}
    return out


def test_only_scoring_reads_the_answers_and_changing_every_answer_changes_no_prediction(tmp_path):
    first, traced = evaluate(tmp_path / "a", change_answers=False)
    assert traced.readers == {SCORING}, traced.readers               # module, model, TTT, callbacks: never
    again, traced_again = evaluate(tmp_path / "b", change_answers=True)
    assert traced_again.readers == {SCORING}
    assert len(first) == 2 and {r["task_id"] for r in first} == {r["task_id"] for r in again}
    assert any(r["ttt"]["steps"] == 1 for r in first)                # TTT adapted and predicted
    assert set(first[0]["sources"]) == {"rails", "network", "ttt"}
    assert [predictions(r) for r in first] == [predictions(r) for r in again]
    assert all(r["truth"] != s["truth"] for r, s in zip(first, again))    # the scores saw the changed answers
    assert all(not any(r["correct"]) for r in again)                 # nothing can match answers no task has
    assert torch.is_grad_enabled()


def test_in_the_package_only_loading_and_the_evaluators_scorer_touch_the_answer_key():
    """Static companion of the traced run above (it covers code paths that run does not take): the attribute
    ``.solutions`` appears only in topas_lit/data/ (loading task sets and composing training data from training
    tasks' outputs) and, outside it, only in the evaluator as the Scorer's argument: no model, source, TTT,
    callback or LightningModule code holds the answer key."""
    import ast

    root = Path(SCORING).parents[2]
    users = {}
    for path in (root / "topas_lit").rglob("*.py"):
        tree = ast.parse(path.read_text())
        uses = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "solutions"]
        if uses:
            users[str(path.relative_to(root))] = (tree, uses)
    outside_data = {f for f in users if not f.startswith("topas_lit/data/")}
    assert outside_data == {"topas_lit/eval/evaluator.py"}, outside_data
    tree, uses = users["topas_lit/eval/evaluator.py"]
    handed = [a for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "Scorer"
              for a in n.args]
    assert len(uses) == 1 and uses[0] in handed
