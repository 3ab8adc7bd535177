"""GPU determinism (skipped without CUDA; run on the device machine): two `trainer.deterministic=true` runs of
a short train + TTT evaluation on one GPU give bitwise-equal weights, records, submission and reports
(scripts/check_determinism.py does the runs and the comparison; run it alone for the 60M experiment's figures)."""
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

SHORT = ["trainer=gpu", "trainer.max_epochs=1", "+trainer.limit_train_batches=5", "+trainer.limit_val_batches=1",
         "data.train.limit=40", "data.test.limit=3", "rail.depth=2", "module.eval.n_augment=2",
         "+experiment=slot_ttt", "module.ttt.steps=2", "module.ttt.batch_size=2", "rail.ttt_when_verified=run",
         "logger=csv", "~callbacks.progress"]


def test_two_deterministic_gpu_runs_are_bitwise_equal(tmp_path):
    import check_determinism

    rc = check_determinism.main(["--out", str(tmp_path), *SHORT])
    assert rc == 0, "the two runs differ (printed above)"
