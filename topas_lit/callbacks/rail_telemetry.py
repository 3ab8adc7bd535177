"""RailTelemetry: which rail answered each item, and how often it was right, per phase.

Training/validation: from the step outputs (``rail``, ``correct``), device-side updates of a ``RailCounts``
metric. Evaluation: from the evaluator's records, the test step's outputs (host records of the batch, converted
once per batch; scored already: this callback never sees the answer key, only what the scoring step wrote).
At epoch end it logs ``<prefix>rail/freq/<rail>`` and ``<prefix>rail/acc/<rail>`` through ``pl_module.log``
(every attached logger gets them); prefix is ``train/``, ``val/`` or none for evaluation. At the end of
evaluation, on rank 0, it also logs a bar chart of rail frequencies and a per-task table to W&B (when a
WandbLogger is attached; wandb is imported only then), the table with images of the test input, both attempts
and the truth (``images``), and writes the per-task table as a CSV file in each CSVLogger's folder.
"""
from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from lightning.pytorch import Callback
from lightning.pytorch.loggers import CSVLogger, WandbLogger

from topas_lit.callbacks.rail_counts import RailCounts
from topas_lit.eval.report_html import PALETTE
from topas_lit.modules.dsl.search import ANSWER_RAILS

PREFIX = {"train": "train/", "val": "val/", "test": ""}
TABLE_COLUMNS = ("task_id", "test_index", "rail", "program", "source", "correct")
IMAGE_COLUMNS = ("test_input", "attempt_1", "attempt_2", "truth")
NO_ANSWER = "none"       # the rail of a test input no source answered (not counted in the rail metrics)
RGB = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in PALETTE], dtype=np.uint8)


def grid_image(grid: list[list[int]] | None, cell: int = 8):
    """An ARC grid as an RGB array in the ARC palette, ``cell`` pixels per cell with grey grid lines; None stays
    None (a test input no source answered, an unknown truth)."""
    if grid is None or not grid:
        return None
    img = RGB[np.asarray(grid, dtype=np.int64)].repeat(cell, 0).repeat(cell, 1)
    img[::cell, :] = 60
    img[:, ::cell] = 60
    return img
CHART_KEY = "rail/freq_bar"
TABLE_KEY = "rail/tasks"


class RailTelemetry(Callback):
    def __init__(self, train: bool = True, val: bool = True, chart_key: str = CHART_KEY, table_key: str = TABLE_KEY,
                 csv_name: str = "rail_tasks.csv", images: bool = True):
        self.enabled = {"train": train, "val": val, "test": True}
        self.chart_key, self.table_key, self.csv_name, self.images = chart_key, table_key, csv_name, images
        self.metrics = {phase: RailCounts() for phase in PREFIX}
        self.rows: list[dict] = []                  # evaluation: one per (task, test input), this rank
        self.last: dict[str, dict[str, list]] = {}  # phase -> counts logged at its last epoch end
        self.csv_paths: list[Path] = []

    # ---- updates ------------------------------------------------------------------------------------------
    def _start(self, phase: str, pl_module) -> None:
        self.metrics[phase].to(pl_module.device)
        self.metrics[phase].reset()

    def _update_outputs(self, phase: str, outputs) -> None:
        if self.enabled[phase] and isinstance(outputs, Mapping) and "rail" in outputs:
            self.metrics[phase].update(outputs["rail"], outputs["correct"])

    def update_records(self, records: list[dict], device, tasks: Mapping | None = None) -> None:
        """Evaluation records (host values) -> one metric update and table rows (with the grids for the W&B
        images: the test input from ``tasks`` by id, the attempts and truth from the scored record)."""
        codes, correct, scored = [], [], []
        for rec in records:
            answers = rec["correct"]
            task = (tasks or {}).get(rec["task_id"])
            for i, (rail, program) in enumerate(zip(rec["rails"], rec["programs"])):
                if rail not in ANSWER_RAILS and rail != NO_ANSWER:
                    raise ValueError(f"record of task {rec['task_id']} names an unknown rail {rail!r}; "
                                     f"known: {ANSWER_RAILS}")
                ok = None if answers is None else bool(answers[i])
                if rail in ANSWER_RAILS:
                    codes.append(ANSWER_RAILS.index(rail))
                    correct.append(bool(ok))
                    scored.append(ok is not None)
                row = {"task_id": rec["task_id"], "test_index": i, "rail": rail, "program": program,
                       "source": (rec.get("answered_by") or [None] * (i + 1))[i], "correct": ok}
                if self.images:
                    attempts = (rec["attempts"][i] if rec.get("attempts") else None) or [None, None]
                    row["grids"] = {"test_input": task.test_inputs[i] if task is not None else None,
                                    "attempt_1": attempts[0], "attempt_2": attempts[1],
                                    "truth": rec["truth"][i] if rec.get("truth") else None}
                self.rows.append(row)
        if codes:
            t = torch.tensor([codes, correct, scored], dtype=torch.long).to(device)
            self.metrics["test"].update(t[0], t[1].bool(), t[2].bool())

    # ---- epoch-end logging --------------------------------------------------------------------------------
    def _log(self, trainer, pl_module, phase: str) -> dict | None:
        m = self.metrics[phase]
        if not self.enabled[phase] or (m.update_count == 0 and trainer.world_size == 1):
            return None
        res = {k: v.tolist() for k, v in m.compute().items()}     # syncs across ranks (sum)
        m.reset()
        self.last[phase] = res
        for i, name in enumerate(ANSWER_RAILS):
            pl_module.log(f"{PREFIX[phase]}rail/freq/{name}", float(res["freq"][i]))
            if res["scored"][i] > 0:
                pl_module.log(f"{PREFIX[phase]}rail/acc/{name}", float(res["acc"][i]))
        return res

    def _gather_rows(self, trainer) -> list[dict]:
        if trainer.world_size > 1 and dist.is_available() and dist.is_initialized():
            parts: list = [None] * trainer.world_size
            dist.all_gather_object(parts, self.rows)
            return [r for part in parts for r in part]
        return list(self.rows)

    def _to_wandb(self, logger: WandbLogger, res: dict, rows: list[dict]) -> None:
        import wandb  # only with a WandbLogger attached: W&B stays optional

        freq = wandb.Table(columns=["rail", "frequency", "answered", "accuracy"],
                           data=[[name, res["freq"][i], res["answered"][i],
                                  res["acc"][i] if res["scored"][i] > 0 else None]
                                 for i, name in enumerate(ANSWER_RAILS)])
        columns = list(TABLE_COLUMNS) + (list(IMAGE_COLUMNS) if self.images else [])

        def image(grid):
            img = grid_image(grid)
            return None if img is None else wandb.Image(img)

        data = [[r[c] for c in TABLE_COLUMNS] + ([image(r["grids"][c]) for c in IMAGE_COLUMNS] if self.images else [])
                for r in rows]
        tasks = wandb.Table(columns=columns, data=data)
        logger.experiment.log({self.chart_key: wandb.plot.bar(freq, "rail", "frequency",
                                                              title="Rail frequencies (evaluation)"),
                               self.table_key: tasks})

    def _to_csv(self, logger: CSVLogger, rows: list[dict]) -> None:
        path = Path(logger.log_dir) / self.csv_name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=TABLE_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        self.csv_paths.append(path)

    # ---- hooks --------------------------------------------------------------------------------------------
    def on_train_start(self, trainer, pl_module) -> None:
        self._start("train", pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._update_outputs("train", outputs)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._log(trainer, pl_module, "train")

    def on_validation_start(self, trainer, pl_module) -> None:
        self._start("val", pl_module)

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if not trainer.sanity_checking:
            self._update_outputs("val", outputs)

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self._log(trainer, pl_module, "val")

    def on_test_start(self, trainer, pl_module) -> None:
        self._start("test", pl_module)
        self.rows = []

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        records = outputs.get("records", []) if isinstance(outputs, Mapping) else []
        self.update_records(records, pl_module.device, {t.id: t for t in getattr(batch, "tasks", [])})

    def on_test_epoch_end(self, trainer, pl_module) -> None:
        res = self._log(trainer, pl_module, "test")
        if res is None:
            return
        rows = self._gather_rows(trainer)
        if not trainer.is_global_zero:
            return
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                self._to_wandb(logger, res, rows)
            elif isinstance(logger, CSVLogger):
                self._to_csv(logger, rows)
