"""The sequence recipe (+experiment=ttt) keeps the framework's guarantees: a training run killed with SIGKILL
mid-epoch resumes from last.ckpt with the batches it had not trained on and ends with the unbroken run's
weights; two runs with the same seed write bitwise-equal weights, records and submission; every file a run
writes loads as plain data (weights_only=True / json)."""
import json
import sys

import pytest
import torch

from conftest import ROOT
from test_faults import QUIET, train_py

sys.path.insert(0, str(ROOT / "scripts"))
from check_determinism import drop_timing  # noqa: E402  (every field but wall times)

SEQ = ["+experiment=ttt", "logger=csv", "data.train.limit=12", "data.test.limit=3", "data.batch_size=4",
       "trainer.max_epochs=2", "+trainer.limit_train_batches=5", "callbacks.checkpoint.every_n_train_steps=2",
       "module.eval.n_augment=2", "rail.depth=1", "rail.beam_width=2", "rail.policy_topk=2", *QUIET]


def weights(run_dir) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)


@pytest.mark.slow
def test_seq_training_killed_mid_epoch_resumes_and_ends_as_the_unbroken_run(tmp_path):
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    train_py(whole, *SEQ, "test=false")
    train_py(broken, *SEQ, "test=false", "+callbacks.killer._target_=test_faults.KillAtStep",
             "+callbacks.killer.step=3", expect_kill=True)
    ckpt = weights(broken)
    assert ckpt["global_step"] == 2
    assert ckpt["SequenceDataModule"]["train_sampler"]["consumed"] == 2          # two batches of epoch 0
    proc = train_py(broken, *SEQ, "test=false")
    assert "resuming from" in proc.stdout
    a, b = weights(whole), weights(broken)
    assert a["global_step"] == b["global_step"] == 10
    for k, v in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][k], v, rtol=1e-5, atol=1e-6, msg=k)


@pytest.mark.slow
def test_two_seq_runs_with_the_same_seed_are_identical_and_load_as_plain_data(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    train_py(a, *SEQ)
    train_py(b, *SEQ)
    ca, cb = weights(a), weights(b)                                   # weights_only=True: plain tensors
    assert ca["state_dict"].keys() == cb["state_dict"].keys()
    for k in ca["state_dict"]:
        assert torch.equal(ca["state_dict"][k], cb["state_dict"][k]), k
    rec = lambda d: [drop_timing(json.loads(line)) for line in (d / "results.jsonl").read_text().splitlines()]
    ra, rb = rec(a), rec(b)
    assert len(ra) == 3 and ra == rb
    assert any("sequence" in r["sources"] for r in ra)                # the network decoded, and decoded the same
    assert (a / "submission.json").read_text() == (b / "submission.json").read_text()
    assert drop_timing(json.loads((a / "report.json").read_text())) == \
        drop_timing(json.loads((b / "report.json").read_text()))
