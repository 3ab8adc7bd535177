"""The search-prior recipes (scripts/distill_policy.py, and +experiment=gpu whose datamodule searches its fit tasks:
data.program_targets=search): program targets come from a real search, and in the training they run every module that ranks the search gets a gradient: the HyLa policy, Cortex and RelMem's op head
through the policy loss on the merged op bias, the DreamEngine's retrieval once the dream-token buffer has filled
its memory from a training step, and the Dream strategy head through the strategy loss. The held-out measure
(expected candidates until the first verified program) is checked on a hand-made table."""
import math
import sys

import numpy as np
import torch

from conftest import ROOT, compose_cfg
from topas_lit.callbacks.dream_buffer import DreamTokenBuffer
from topas_lit.data.datamodule import LeaveOneOut, collate_items
from topas_lit.search.engine import SearchEngine
from topas_lit.search.source import SearchSource
from topas_lit.search.targets import find_programs

sys.path.insert(0, str(ROOT / "scripts"))
from distill_policy import TRAIN_DEFAULTS, expected_rank  # noqa: E402


def test_recipe_gives_every_ranking_module_a_gradient(arc1_train):
    from topas_lit.run import build_module
    tasks = arc1_train.tasks[:24]
    found = find_programs(tasks, arc1_train.solutions, SearchSource(SearchEngine(depth=2, beam_width=4, policy_topk=2)))
    with_prog = [t for t in tasks if found[t.id]["program"]]
    assert len(with_prog) >= 3, found
    module = build_module(compose_cfg(TRAIN_DEFAULTS))         # train.py's config as the recipe runs it
    ds = LeaveOneOut(with_prog, 3, augment=True, programs=found, depth=2, seed=0)
    batch = targeted_batch(ds)
    check_ranking_gradients(module, batch)


def test_gpu_recipe_data_gives_the_ranking_modules_a_gradient(tmp_path):
    """The GPU recipe's own config (+experiment=gpu: data.program_targets=search; the tiny model and a small search
    budget so that it runs in seconds on CPU): the datamodule's search gives the targets, its training loader the
    batch. The recipe keeps Dream's op-bias weight 0; the retrieval still learns through the strategy head."""
    from hydra.utils import instantiate

    from topas_lit.run import build_module
    cfg = compose_cfg(["+experiment=gpu", "model=tiny", "data.train.limit=24", "rail.depth=2", "rail.beam_width=4",
                       "rail.policy_topk=2", "rail.cpu_workers=1"])
    cfg.out_dir = str(tmp_path)
    assert cfg.data.program_targets == "search"
    dm = instantiate(cfg.data)
    dm.setup("fit")
    assert (tmp_path / "program_targets.json").exists()
    batch = targeted_batch(dm.train_dataloader().dataset)
    check_ranking_gradients(build_module(cfg), batch)


def targeted_batch(ds, n: int = 8) -> dict:
    """Up to ``n`` items that carry a program target (untransformed ones), drawn over a few epochs."""
    items = [ds[(e, i)] for e in range(4) for i in range(len(ds))]
    items = [it for it in items if bool(it["targets"]["program_mask"])][:n]   # untransformed items keep a target
    assert len(items) >= 4
    return collate_items(items)


def check_ranking_gradients(module, batch: dict) -> None:
    """A training step's dream tokens reach the DreamEngine through the buffer, as in training; then the loss gives
    every module that ranks the search a gradient."""
    model = module.model
    assert int(model.dream.size()) == 0
    out = module.training_step(batch, 0)
    buffer = DreamTokenBuffer(capacity=64, sink="none")
    buffer.append(module, out["dream_tokens"], out["dream_valid"])
    buffer.flush(module)
    assert int(model.dream.size()) == len(batch["task_id"])
    module.zero_grad()
    parts = module.losses(model(batch["inputs"], rails=False), batch["targets"])
    parts["loss"].backward()
    ranking = {"HyLa policy": model.policy, "Cortex": model.cortex, "RelMem op head": model.relmem.op_head,
               "Dream retrieval": model.dream.key_proj, "Dream strategy": model.dream.strategy}
    for name, mod in ranking.items():
        grads = [p.grad for p in mod.parameters()]
        assert all(g is not None and bool(g.abs().sum() > 0) for g in grads), name
    assert model.dream.log_temp.grad is not None and bool(model.dream.log_temp.grad != 0)


def test_expected_rank_breaks_ties_at_random():
    n = 4                                                       # ops 1..3 besides identity: 3 + 9 programs
    table = np.zeros((n, n), dtype=bool)
    assert expected_rank(table, np.zeros((2, n))) == math.inf
    table[2, 3] = True                                          # "2 | 3" is the only verified program
    assert expected_rank(table, np.zeros((2, n))) == (12 + 1) / 2
    score = np.zeros((2, n))
    score[0, 2], score[1, 3] = 1.0, 1.0                         # the prior puts it first
    assert expected_rank(table, score) == 1.0
    score[1, 0] = 2.0                   # programs of one op gain 2: "2" alone (3) first, then "1", "3" and "2 | 3"
    assert expected_rank(table, score) == 1 + (3 + 1) / (1 + 1)  # tie at 2: 1 verified of 3, expected place 2


def test_a_source_weighted_zero_takes_no_precedence():
    from topas_lit.modules.op_bias import OpBiasMerge
    bias = {"relmem": torch.tensor([[1.0, 0.0, -1.0]]), "dream": torch.tensor([[-3.0, 0.0, 3.0]])}
    conf = {"dream": torch.tensor([0.9])}
    prio = {"dream": 1}
    on, _ = OpBiasMerge({"relmem": 1.0, "dream": 1.0}, prio)(bias, conf)
    off, _ = OpBiasMerge({"relmem": 1.0, "dream": 0.0}, prio)(bias, conf)
    alone, _ = OpBiasMerge({"relmem": 1.0}, prio)({"relmem": bias["relmem"]}, {})
    assert torch.allclose(off, alone) and not torch.allclose(on, alone)
