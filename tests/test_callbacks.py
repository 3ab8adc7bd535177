"""The callbacks of the design: DreamTokenBuffer, EBRGate, RailTelemetry (+ the W&B dashboard script).

Tiny runs: the tiny model, 2-sample batches, a couple of batches per epoch, depth-1 rails, 2 evaluation tasks.
"""
import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from hydra.utils import instantiate
from lightning.pytorch import Callback, seed_everything

from conftest import ROOT, compose_cfg
from topas_lit.callbacks.dream_buffer import DreamTokenBuffer
from topas_lit.callbacks.ebr_gate import EBRGate
from topas_lit.callbacks.rail_counts import RailCounts
from topas_lit.callbacks.rail_telemetry import CHART_KEY, IMAGE_COLUMNS, TABLE_KEY, RailTelemetry
from topas_lit.callbacks.sync_guard import HostReadGuard, NoCPUTransferGuard
from topas_lit.modules.dream import DreamEngine
from topas_lit.modules.ebr import EBR
from topas_lit.modules.dsl.search import ANSWER_RAILS, RAILS
from topas_lit.run import build_module

TINY = ["+data.train.limit=20", "data.test.limit=2", "data.batch_size=2", "rail.depth=1", "module.eval.n_augment=1",
        "model.ebr.steps=1",
        "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=1", "trainer.max_epochs=1"]
QUIET = ["~callbacks.progress", "+trainer.enable_progress_bar=false", "+trainer.enable_model_summary=false",
         "callbacks.sync_guard.mode=error"]                      # subprocess runs keep the tests' guard on too


def tiny_run(tmp_path, callbacks, overrides=(), fit=True, test=False, ckpt_path=None, logger=None):
    """Build the datamodule, module and a trainer with exactly ``callbacks``; fit and/or test in-process."""
    cfg = compose_cfg(TINY + QUIET + list(overrides))
    cfg.out_dir = str(tmp_path)
    seed_everything(0, workers=True)
    dm = instantiate(cfg.data)
    module = build_module(cfg)
    trainer = instantiate(cfg.trainer, callbacks=list(callbacks), logger=logger or False,
                          default_root_dir=str(tmp_path))
    if fit:
        trainer.fit(module, dm, ckpt_path=ckpt_path)
    if test:
        trainer.test(module, dm)
    return trainer, module


def fake_module(d_model=4, n_ops=3, capacity=8):
    engine = DreamEngine(d_model, n_ops, len(RAILS), capacity=capacity, d_key=4)
    return SimpleNamespace(model=SimpleNamespace(dream=engine), device=torch.device("cpu"))


# ---- the W&B run of `python train.py logger=wandb` --------------------------------------------------------------
@pytest.mark.slow
def test_train_py_wandb_offline_run_holds_rail_metrics_chart_and_table(tmp_path):
    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true", WANDB_DIR=str(tmp_path),
               WANDB_DATA_DIR=str(tmp_path / "wandb-data"))     # where offline runs stage their table artifacts
    env.pop("WANDB_API_KEY", None)
    cmd = [sys.executable, "train.py", "logger=wandb", *TINY, *QUIET, "rail.order=[one_glance]",   # cheapest search
           f"hydra.run.dir={tmp_path}"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (run_file,) = tmp_path.glob("wandb/offline-run-*/run-*.wandb")
    # wandb's own reader of the transaction log
    read = subprocess.run([sys.executable, "-m", "wandb", "leet", "inspect", "--summary", "--json", str(run_file)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert read.returncode == 0, read.stderr[-2000:]
    summary = json.loads(read.stdout)["summary"]
    freq = {r: summary[f"rail/freq/{r}"] for r in RAILS}
    assert abs(sum(freq.values()) - 1.0) < 1e-6
    assert any(k.startswith("rail/acc/") for k in summary)
    assert all(f"train/rail/freq/{r}" in summary and f"val/rail/freq/{r}" in summary for r in RAILS)
    assert {"ebr/train/applied_rate", "ebr/val/changed_rate", "ebr/test/applied_rate"} <= set(summary)
    assert summary[f"{CHART_KEY}_table"]["_type"] == "table-file" and summary[TABLE_KEY]["nrows"] == 2
    # the per-task table agrees with the evaluation records, and the frequencies with the rails they name
    records = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    (table_file,) = tmp_path.glob("wandb/offline-run-*/files/media/table/rail/tasks_*.table.json")
    table = json.loads(table_file.read_text())
    rows = [dict(zip(table["columns"], row)) for row in table["data"]]
    assert sorted((r["task_id"], r["rail"], r["correct"]) for r in rows) == \
        sorted((rec["task_id"], rec["rails"][0], rec["correct"][0]) for rec in records)
    for r in RAILS:
        assert freq[r] == pytest.approx(sum(row["rail"] == r for row in rows) / len(rows))
    # the table shows each test input, both attempts and the truth as images of the grids (8 px per cell): W&B
    # keeps media tables in a run artifact (staged offline until `wandb sync`), the run file names the column
    assert set(IMAGE_COLUMNS) <= set(table["columns"])
    staged = [json.loads(p.read_text()) for p in (tmp_path / "wandb-data").rglob("*") if p.is_file()
              and p.read_bytes()[:1] == b"{"]
    copies = [t for t in staged if t.get("_type") == "table" and "attempt_1" in t.get("columns", [])]
    assert copies and all(t == copies[0] for t in copies)          # W&B stages a table more than once
    with_images = copies[0]
    by_id = {rec["task_id"]: rec for rec in records}
    for values in with_images["data"]:
        row = dict(zip(with_images["columns"], values))
        rec = by_id[row["task_id"]]
        for col, grid in (("attempt_1", rec["attempts"][0][0]), ("attempt_2", rec["attempts"][0][1]),
                          ("truth", rec["truth"][0])):
            assert row[col]["_type"] == "image-file", row[col]
            assert (row[col]["width"], row[col]["height"]) == (8 * len(grid[0]), 8 * len(grid)), col
        assert row["test_input"]["_type"] == "image-file"
    assert len(with_images["data"]) == 2 and sum(p.read_bytes()[:4] == b"\x89PNG"
                                                  for p in (tmp_path / "wandb-data").rglob("*") if p.is_file()) >= 4
    # every evaluation key the dashboard spec names is in the run
    sys.path.insert(0, str(ROOT / "scripts"))
    import wandb_dashboard

    spec = wandb_dashboard.build_spec()
    panels = spec["sections"][0]["panels"]
    keys = [k for p in panels for k in p.get("metrics", []) if "/acc/" not in k] + [p["table"] for p in panels
                                                                                  if "table" in p]
    assert set(keys) <= set(summary)
    assert {f"rail/acc/{r}" for r in RAILS if freq[r] > 0} <= set(summary)   # accuracy where a rail answered
    # the dream tokens of the run folder load as plain tensors
    parts = sorted((tmp_path / "dream_tokens").glob("*.pt"))
    assert parts and all(torch.load(p, weights_only=True)["tokens"].ndim == 2 for p in parts)


# ---- DreamTokenBuffer -------------------------------------------------------------------------------------------
def test_dream_buffer_ring_feeds_engine_with_valid_tokens_and_files_every_token(tmp_path):
    pl = fake_module(capacity=8)
    buf = DreamTokenBuffer(capacity=4, sink="file", dirpath=str(tmp_path / "dream"))
    gen = torch.Generator().manual_seed(0)
    batches = [(torch.randn(3, 7, generator=gen), torch.tensor(v)) for v in
               ([True, False, True], [False, True, True], [True, True, False])]
    with HostReadGuard("error"):                   # the per-batch hook never reads a value on the host
        for i, (tok, val) in enumerate(batches):
            buf.on_train_batch_end(None, pl, {"dream_tokens": tok, "dream_valid": val}, None, i)
    assert (buf.cursor, buf.written, buf.flushes) == (1, 9, 2)     # 9 tokens through a 4-row ring: 2 flushes
    buf.on_train_epoch_end(SimpleNamespace(global_rank=0, current_epoch=0), pl)
    all_tok = torch.cat([t for t, _ in batches])
    all_val = torch.cat([v for _, v in batches])
    saved = [torch.load(f, weights_only=True) for f in buf.files]
    assert len(saved) == 3 and buf.cursor == 0
    assert torch.equal(torch.cat([s["tokens"] for s in saved]), all_tok)
    assert torch.equal(torch.cat([s["valid"] for s in saved]), all_val)
    engine = pl.model.dream
    n_valid = int(all_val.sum())
    assert int(engine.size()) == n_valid == int(engine.cursor)
    assert torch.equal(engine.keys[:n_valid], all_tok[all_val][:, :4])
    assert torch.equal(engine.values[:n_valid], all_tok[all_val][:, 4:])


def test_dream_buffer_host_sink_keeps_newest_rows_and_state_round_trips():
    pl = fake_module()
    buf = DreamTokenBuffer(capacity=4, sink="host", feed_engine=False, host_limit=6)
    tok = torch.arange(10 * 7, dtype=torch.float32).view(10, 7)
    buf.append(pl, tok, torch.ones(10, dtype=torch.bool))
    state = buf.state_dict()
    buf.on_train_epoch_end(SimpleNamespace(global_rank=0, current_epoch=0), pl)
    kept, _ = buf.host_tokens()
    assert torch.equal(kept, tok[4:])             # chunks of 4, 4, 2: the oldest dropped past 6 rows
    assert int(pl.model.dream.size()) == 0        # feed_engine=False
    other = DreamTokenBuffer(capacity=4, sink="host", feed_engine=False, host_limit=6)
    other.load_state_dict(state)                  # before allocation: applied when training starts
    other.on_train_start(None, pl)
    assert (other.cursor, other.written, other.flushes) == (2, 10, 2)
    assert torch.equal(other.tokens, buf.tokens) and torch.equal(torch.cat([t for t, _ in other._chunks]), tok[:8])
    with pytest.raises(ValueError, match="capacity"):
        DreamTokenBuffer(capacity=5, sink="host").load_state_dict(state)


class SaveAt(Callback):
    """Saves a checkpoint after training batch ``at`` (after the buffer's hook) and snapshots the buffer."""

    def __init__(self, buf, at, path):
        self.buf, self.at, self.path = buf, at, path
        self.snapshot = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if batch_idx == self.at:
            trainer.save_checkpoint(self.path)
            self.snapshot = {"state": self.buf.state_dict(), "engine": {k: v.clone() for k, v in
                                                                         pl_module.model.dream.state_dict().items()}}


class Resumed(Callback):
    """Records the buffer right after the restore and after the first resumed batch."""

    def __init__(self, buf):
        self.buf = buf
        self.at_start = self.after_first = None

    def on_train_start(self, trainer, pl_module):
        self.at_start = {"state": self.buf.state_dict(), "engine": {k: v.clone() for k, v in
                                                                     pl_module.model.dream.state_dict().items()}}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.after_first is None:
            self.after_first = {"state": self.buf.state_dict(), "batch": outputs["dream_tokens"].shape[0]}


def test_resumed_training_restores_the_dream_buffer_exactly(tmp_path):
    ckpt = tmp_path / "mid.ckpt"
    over = ["trainer.limit_train_batches=4", "trainer.limit_val_batches=0"]
    buf = DreamTokenBuffer(capacity=5, sink="host")
    saver = SaveAt(buf, at=2, path=ckpt)
    tiny_run(tmp_path / "a", [buf, saver], over)
    want = saver.snapshot["state"]
    assert want["cursor"] == 1 and want["flushes"] == 1 and want["written"] == 6   # mid-ring, after one flush
    stored = torch.load(ckpt, weights_only=True)["callbacks"]
    assert any(k.startswith("DreamTokenBuffer") for k in stored)      # plain tensors and ints in the checkpoint

    buf2 = DreamTokenBuffer(capacity=5, sink="host")
    probe = Resumed(buf2)
    tiny_run(tmp_path / "b", [buf2, probe], over, ckpt_path=str(ckpt))
    got = probe.at_start["state"]
    assert {k: got[k] for k in ("cursor", "written", "flushes", "parts")} == \
        {k: want[k] for k in ("cursor", "written", "flushes", "parts")}
    assert torch.equal(got["tokens"], want["tokens"]) and torch.equal(got["valid"], want["valid"])
    assert len(got["chunk_tokens"]) == 1 and torch.equal(got["chunk_tokens"][0], want["chunk_tokens"][0])
    for k, v in saver.snapshot["engine"].items():                    # the engine memory came back with the model
        assert torch.equal(probe.at_start["engine"][k], v), k
    # it continues where it stopped: the next batch lands after the saved cursor, earlier rows untouched
    nxt = probe.after_first["state"]
    b = probe.after_first["batch"]
    assert nxt["cursor"] == want["cursor"] + b and nxt["written"] == want["written"] + b
    assert torch.equal(nxt["tokens"][: want["cursor"]], want["tokens"][: want["cursor"]])


def test_end_of_epoch_checkpoint_holds_a_flushed_ring_and_every_token_is_filed_once(tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    buf = DreamTokenBuffer(capacity=64, sink="file", dirpath=str(tmp_path / "dream"))
    # saved after validation, i.e. before the training epoch ends (as with val_check_interval < 1 or a monitor)
    ckpt = ModelCheckpoint(dirpath=str(tmp_path / "ckpt"), save_last=True, save_top_k=1,
                           save_on_train_epoch_end=False)
    tiny_run(tmp_path, [buf, ckpt], ["trainer.max_epochs=2"])
    state = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)
    (key,) = [k for k in state["callbacks"] if k.startswith("DreamTokenBuffer")]
    saved = state["callbacks"][key]
    assert saved["cursor"] == 0 and saved["written"] == buf.written == 8      # 2 epochs x 2 batches x 2 items
    assert saved["chunk_tokens"] == []                                       # nothing left to file after resume
    filed = [torch.load(f, weights_only=True) for f in buf.files]
    assert sum(f["tokens"].shape[0] for f in filed) == 8 and {f["epoch"] for f in filed} == {0, 1}
    n_valid = sum(int(f["valid"].sum()) for f in filed)
    assert int(state["state_dict"]["model.dream.filled"][:-1].sum()) == n_valid   # the engine has them already


# ---- EBRGate ----------------------------------------------------------------------------------------------------
class GateProbe(Callback):
    """Host recount (test-only .item()s) of the gate in force and the EBR outputs, per phase."""

    def __init__(self):
        self.gates = {"train": {}, "val": set(), "test": set(), "ttt": set(), "ttt_attr": set()}
        self.counts = {p: [0, 0, 0] for p in ("train", "val", "test")}
        self.epoch_counts: list[list[int]] = []
        self._hooks = []

    def _add(self, phase, applied, changed):
        c = self.counts[phase]
        c[0] += int(applied.sum())
        c[1] += int(changed.sum())
        c[2] += applied.shape[0]

    def on_train_epoch_start(self, trainer, pl_module):
        self.counts["train"] = [0, 0, 0]

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.gates["train"].setdefault(trainer.current_epoch, set()).add(pl_module.model.ebr.gate)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self._add("train", outputs["ebr_applied"], outputs["ebr_changed"])

    def on_train_epoch_end(self, trainer, pl_module):
        self.epoch_counts.append(list(self.counts["train"]))

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        self.gates["val"].add(pl_module.model.ebr.gate)

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self._add("val", outputs["ebr_applied"], outputs["ebr_changed"])

    def on_test_start(self, trainer, pl_module):
        def pre(module, args):
            if module.training:
                self.gates["ttt"].add(module.ebr.gate)

        def post(module, args, out):
            if not module.training:             # TTT steps (train mode, maybe under vmap) are not evaluation
                self._add("test", out.extras["ebr_applied"], out.extras["ebr_changed"])
        self._hooks = [pl_module.model.register_forward_pre_hook(pre), pl_module.model.register_forward_hook(post)]

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        self.gates["test"].add(pl_module.model.ebr.gate)
        ttt = next(s for s in pl_module.evaluator.sources if s.name == "ttt")
        self.gates["ttt_attr"].add(ttt.gate)                        # what the TTT source predicts under

    def on_test_end(self, trainer, pl_module):
        for h in self._hooks:
            h.remove()


def test_ebr_gate_switches_per_phase_and_counts_match_a_host_recount(tmp_path):
    gate = EBRGate(train="always", eval="entropy", ttt="never", warmup_epochs=1)
    probe = GateProbe()
    over = ["trainer.max_epochs=2", "trainer.limit_train_batches=1", "module.ttt.enabled=true", "module.ttt.steps=1",
            "module.ttt.batch_size=1", "rail.painter_always=true"]   # no search: every item reaches painter + EBR
    trainer, module = tiny_run(tmp_path, [gate, probe], over, test=True)
    assert probe.gates["train"] == {0: {"never"}, 1: {"always"}}
    assert probe.gates["val"] == {"entropy"} and probe.gates["test"] == {"entropy"}
    assert probe.gates["ttt_attr"] == {"never"} and probe.gates["ttt"] == {"never"}   # TTT steps ran under it
    # after evaluation the gate is what it was before
    assert module.model.ebr.gate == "always"
    train_hist = [list(h) for h in gate.history["train"]]
    assert train_hist == probe.epoch_counts
    assert train_hist[0][0] == 0 and train_hist[1][0] == train_hist[1][2] > 0   # never, then always (rails off)
    assert sum(h[2] for h in gate.history["val"]) == probe.counts["val"][2]
    assert [sum(h[i] for h in gate.history["val"]) for i in range(3)] == probe.counts["val"]
    assert list(gate.history["test"][-1]) == probe.counts["test"] and probe.counts["test"][2] > 0
    logged = trainer.callback_metrics
    assert float(logged["ebr/test/applied_rate"]) == pytest.approx(probe.counts["test"][0] / probe.counts["test"][2])


class Echo(torch.nn.Module):
    """A stand-in model: returns its input as the extras of an output."""

    def __init__(self):
        super().__init__()
        self.ebr = EBR(d_model=4)

    def forward(self, extras, rails=True):
        return SimpleNamespace(extras=extras)


@pytest.mark.parametrize("replay", [False, True])
def test_ebr_gate_counts_each_evaluation_forward_once(replay):
    """Counted through the module's evaluation listeners: eager forwards and CUDA-graph replays (no module hooks)
    alike, once each; model calls outside the evaluation forward (capture, warm-up, TTT steps) are not counted."""
    from topas_lit.lit_module import TopasLitModule
    ex = {"ebr_applied": torch.tensor([True, False, True]), "ebr_changed": torch.tensor([True, False, False])}
    trainer = SimpleNamespace(sanity_checking=False)
    model = Echo().eval()
    fn = (lambda extras, rails=True: SimpleNamespace(extras=extras)) if replay else model.__call__
    pl = SimpleNamespace(model=model, device=torch.device("cpu"), eval_listeners=[], _forward_fn=fn)
    infer = lambda *a, **k: TopasLitModule.infer(pl, *a, **k)  # noqa: E731
    gate = EBRGate(eval="always", ttt="never")
    gate.on_test_start(trainer, pl)
    assert model.ebr.gate == "always" and gate.prediction_settings() == {"eval": "always", "ttt": "never"}
    with HostReadGuard("error"):
        infer(ex)
        infer(ex, rails=False)
    model(ex)                                   # a call outside the evaluation forward (capture, warm-up)
    model.train()(ex)                           # a TTT step
    model.eval()
    assert gate._counts["test"].tolist() == [4, 2, 6]
    gate.on_test_end(trainer, pl)
    assert model.ebr.gate == "entropy" and pl.eval_listeners == []


def test_ebr_gate_rejects_unknown_gates():
    with pytest.raises(ValueError, match="callbacks.ebr_gate.eval"):
        EBRGate(eval="sometimes")


# ---- RailTelemetry ----------------------------------------------------------------------------------------------
class RailProbe(Callback):
    def __init__(self):
        self.train = [[0] * len(ANSWER_RAILS), [0] * len(ANSWER_RAILS)]
        self.records: list[dict] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        for r, ok in zip(outputs["rail"].tolist(), outputs["correct"].tolist()):
            self.train[0][r] += 1
            self.train[1][r] += ok

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self.records += outputs["records"]                         # the evaluator's records of the batch


def test_rail_telemetry_counts_match_outputs_and_records_and_reach_the_csv_logger(tmp_path):
    from lightning.pytorch.loggers import CSVLogger

    tele = RailTelemetry()
    probe = RailProbe()
    logger = CSVLogger(str(tmp_path), name="csv")
    trainer, _ = tiny_run(tmp_path, [tele, probe], ["rail.in_training=true"], test=True, logger=logger)
    assert tele.last["train"]["answered"] == probe.train[0] and tele.last["train"]["correct"] == probe.train[1]
    recs = [(r, ok) for rec in probe.records for r, ok in zip(rec["rails"], rec["correct"])]
    assert len(recs) == 2
    assert tele.last["test"]["answered"] == [sum(r == name for r, _ in recs) for name in ANSWER_RAILS]
    assert tele.last["test"]["correct"] == [sum(ok for r, ok in recs if r == name) for name in ANSWER_RAILS]
    rows = list(csv.DictReader(tele.csv_paths[0].open()))
    assert Path(tele.csv_paths[0]).parent == Path(logger.log_dir)
    assert [(row["task_id"], row["rail"], row["program"]) for row in rows] == \
        [(rec["task_id"], rec["rails"][0], rec["programs"][0]) for rec in probe.records]
    logger.save()
    metrics = list(csv.DictReader((Path(logger.log_dir) / "metrics.csv").open()))
    last = [m for m in metrics if m.get("rail/freq/painter")][-1]
    for i, name in enumerate(ANSWER_RAILS):
        assert float(last[f"rail/freq/{name}"]) == pytest.approx(tele.last["test"]["answered"][i] / 2)
    assert any(m.get("train/rail/freq/painter") for m in metrics)
    assert any(m.get("val/rail/freq/painter") for m in metrics)


def test_rail_counts_match_a_recount_with_unscored_items():
    gen = torch.Generator().manual_seed(1)
    rail = torch.randint(0, len(RAILS), (50,), generator=gen)
    correct = torch.rand(50, generator=gen) < 0.5
    scored = torch.rand(50, generator=gen) < 0.8
    m = RailCounts()
    with HostReadGuard("error"):
        m.update(rail[:20], correct[:20], scored[:20])
        m.update(rail[20:], correct[20:], scored[20:])
    res = m.compute()
    for i in range(len(RAILS)):
        sel = rail == i
        assert int(res["answered"][i]) == int(sel.sum())
        assert int(res["scored"][i]) == int((sel & scored).sum())
        assert int(res["correct"][i]) == int((sel & scored & correct).sum())
    assert float(res["freq"].sum()) == pytest.approx(1.0)
    # evaluation records: correct None (no solutions) counts as answered but not scored
    tele = RailTelemetry()
    tele.update_records([{"task_id": "a", "rails": ["beam", "painter"], "programs": ["flip", "painter"],
                          "correct": [True, False]},
                         {"task_id": "b", "rails": ["beam"], "programs": ["rot90"], "correct": None}], "cpu")
    got = tele.metrics["test"].compute()
    beam = RAILS.index("beam")
    assert int(got["answered"][beam]) == 2 and int(got["scored"][beam]) == 1 and float(got["acc"][beam]) == 1.0
    assert [r["correct"] for r in tele.rows] == [True, False, None]
    with pytest.raises(ValueError, match="unknown rail"):
        tele.update_records([{"task_id": "c", "rails": ["magic"], "programs": ["?"], "correct": None}], "cpu")


def _ddp_worker(rank: int, world: int, store: str, out: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    m = RailCounts()
    rail = torch.tensor([0, 3, 3] if rank == 0 else [1, 3])
    m.update(rail, torch.tensor([True, False, True] if rank == 0 else [True, True]))
    res = m.compute()
    torch.save({k: v.clone() for k, v in res.items()}, f"{out}.{rank}")
    dist.destroy_process_group()


@pytest.mark.slow
def test_rail_counts_sum_across_ddp_ranks(tmp_path):
    m = RailCounts()
    assert all(fx is torch.sum or getattr(fx, "__name__", "") == "dim_zero_sum" for fx in m._reductions.values())
    torch.multiprocessing.spawn(_ddp_worker, args=(2, str(tmp_path / "store"), str(tmp_path / "res")), nprocs=2)
    for rank in range(2):
        res = torch.load(tmp_path / f"res.{rank}", weights_only=True)
        assert res["answered"].tolist() == [1, 1, 0, 3, 0, 0]          # both ranks see the sum of both
        assert res["correct"].tolist() == [1, 1, 0, 2, 0, 0]


# ---- all per-batch hooks are sync-free --------------------------------------------------------------------------
def test_per_batch_hooks_never_read_values_on_the_host():
    pl = fake_module()
    pl.model.ebr = SimpleNamespace(gate="entropy")
    b = 5
    outputs = {"rail": torch.tensor([0, 3, 3, 1, 2]), "correct": torch.tensor([True, False, True, True, False]),
               "ebr_applied": torch.tensor([1, 0, 1, 1, 0], dtype=torch.bool),
               "ebr_changed": torch.tensor([1, 0, 0, 1, 0], dtype=torch.bool),
               "dream_tokens": torch.randn(b, 7), "dream_valid": torch.ones(b, dtype=torch.bool)}
    trainer = SimpleNamespace(sanity_checking=False)
    gate, tele, buf = EBRGate(), RailTelemetry(), DreamTokenBuffer(capacity=3, sink="host")
    extras = SimpleNamespace(extras={k: outputs[k] for k in ("ebr_applied", "ebr_changed")})
    with HostReadGuard("error") as guard:
        for cb in (gate, tele, buf):
            cb.on_train_batch_end(trainer, pl, outputs, None, 0)
        gate.on_validation_batch_end(trainer, pl, outputs, None, 0)
        tele.on_validation_batch_end(trainer, pl, outputs, None, 0)
        gate._count_extras(extras)
    assert guard.seen == []
    assert gate._counts["train"].tolist() == [3, 2, 5] and gate._counts["test"].tolist() == [3, 2, 5]
    assert tele.metrics["train"].answered.tolist() == [1, 1, 1, 2, 0, 0] and buf.written == 5 and buf.flushes == 1


# ---- configs ----------------------------------------------------------------------------------------------------
def test_default_callbacks_config_builds_all_callbacks_with_the_guard_off():
    cfg = compose_cfg(guard=None)                                # the config users run, not the tests' guarded one
    cbs = {k: instantiate(v) for k, v in cfg.callbacks.items()}
    assert isinstance(cbs["dream_buffer"], DreamTokenBuffer) and cbs["dream_buffer"].sink == "file"
    assert isinstance(cbs["ebr_gate"], EBRGate) and cbs["ebr_gate"].train_gate == cfg.model.ebr.gate
    assert isinstance(cbs["rail_telemetry"], RailTelemetry)
    assert isinstance(cbs["sync_guard"], NoCPUTransferGuard) and cbs["sync_guard"].mode == "off"
    assert {"checkpoint", "progress"} <= set(cbs)
    assert instantiate(compose_cfg().callbacks.sync_guard).mode == "error"     # tests run guarded
    guarded = compose_cfg(["callbacks=guarded"], guard=None)
    assert instantiate(guarded.callbacks.sync_guard).mode == "error" and "dream_buffer" in guarded.callbacks


# ---- the dashboard script ---------------------------------------------------------------------------------------
def _dashboard():
    sys.path.insert(0, str(ROOT / "scripts"))
    import wandb_dashboard

    return wandb_dashboard


def test_dashboard_spec_is_written_offline_and_names_the_logged_keys(tmp_path, monkeypatch):
    wd = _dashboard()
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_MODE", "offline")          # credentials but offline: the file only, no network
    out = wd.main(["--out", str(tmp_path / "dash.json")])
    assert out["online"] is False and "WANDB_MODE=offline" in out["message"]
    spec = json.loads((tmp_path / "dash.json").read_text())
    keys = {k for s in spec["sections"] for p in s["panels"] for k in p.get("metrics", []) + p.get("y", [])}
    assert {f"rail/freq/{r}" for r in RAILS} | {f"rail/acc/{r}" for r in RAILS} <= keys
    assert {f"train/rail/freq/{r}" for r in RAILS} <= keys and "ebr/test/applied_rate" in keys
    tables = {p.get("table") for s in spec["sections"] for p in s["panels"]}
    assert {f"{CHART_KEY}_table", TABLE_KEY} <= tables
    monkeypatch.delenv("WANDB_API_KEY")
    monkeypatch.delenv("WANDB_MODE")
    assert "no WANDB_API_KEY" in wd.main(["--out", str(tmp_path / "d2.json")])["message"]


def test_dashboard_save_gives_up_after_its_timeout(monkeypatch):
    import time

    wd = _dashboard()

    class Hangs:
        def save(self):
            time.sleep(30)

    monkeypatch.setattr(wd, "to_wandb", lambda spec: Hangs())
    t0 = time.perf_counter()
    msg = wd.save_online(wd.build_spec(entity="me"), timeout=0.5)
    assert "no answer within" in msg and time.perf_counter() - t0 < 5


def test_dashboard_spec_converts_to_wandb_workspaces_objects():
    pytest.importorskip("wandb_workspaces")
    wd = _dashboard()
    ws = wd.to_wandb(wd.build_spec(entity="me"))
    kinds = [type(p).__name__ for s in ws.sections for p in s.panels]
    assert {"BarPlot", "CustomChart", "WeavePanelSummaryTable", "LinePlot"} <= set(kinds)
    ws._to_model()                                             # a valid saved-view spec, built without network
    report = wd.to_wandb(wd.build_spec(entity="me", kind="report"))
    report._to_model()
