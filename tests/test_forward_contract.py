"""The forward contract: shapes, extras with autograd, and no test output ever reaching the model."""
import torch

from conftest import compose_cfg, make_inputs
from topas_lit.data.datamodule import ARCDataModule
from topas_lit.modules.dsl.grid import PAD
from topas_lit.modules.dsl.search import RAILS


def test_output_contract(tiny_model, arc1_train):
    inputs = make_inputs(arc1_train.tasks[:3])
    with torch.no_grad():
        out = tiny_model(inputs)
    b = 3
    assert out.grid.shape == (b, 30, 30) and out.size.shape == (b, 2)
    assert out.logits.shape == (b, 30, 30, 10) and out.attempts.shape == (b, 2, 30, 30)
    assert torch.equal(out.attempts[:, 0], out.grid)
    ex = out.extras
    assert ex["rail"].dtype == torch.long and ex["rail"].shape == (b,) and (ex["rail"] < len(RAILS)).all()
    assert ex["op_bias"].shape[0] == b and ex["op_bias_parts"].shape[:2] == (b, 4)
    for name in ("latent", "slot_vecs", "op_bias", "rail", "ebr_applied", "energy", "dream_tokens"):
        assert isinstance(ex[name], torch.Tensor), name
    # PAD exactly outside the answer's size
    rows = torch.arange(30)
    inside = (rows[None, :, None] < out.size[:, 0, None, None]) & (rows[None, None, :] < out.size[:, 1, None, None])
    assert ((out.grid == PAD) == ~inside).all()


def test_extras_keep_autograd_in_eval_mode(tiny_model, arc1_train):
    tiny_model.eval()
    with torch.enable_grad():
        out = tiny_model(make_inputs(arc1_train.tasks[:2]), rails=False)
    for name in ("latent", "slot_vecs", "op_bias", "energy"):
        assert out.extras[name].requires_grad, name


class Spy(torch.nn.Module):
    """Wraps the model and records every key and tensor it is given: in its forward (the network and TTT sources),
    its encoder pass (the rails source's op prior) and its search engine (the rails source)."""

    def __init__(self, model):
        super().__init__()
        self.model, self.seen = model, []
        self.compile_mode = "none"
        self.ebr = model.ebr
        self.search = SearchSpy(model.search, self.seen)

    def record(self, inputs):
        self.seen.append({k: v.clone() for k, v in inputs.items()})

    def forward(self, inputs, rails=True):
        self.record(inputs)
        return self.model(inputs, rails=rails)

    def encode(self, inputs):
        self.record(inputs)
        return self.model.encode(inputs)

    def op_prior(self, *args):
        return self.model.op_prior(*args)


class SearchSpy(torch.nn.Module):
    def __init__(self, search, seen):
        super().__init__()
        self.inner, self.seen = search, seen
        self.depth, self.n_ops = search.depth, search.n_ops

    def forward(self, inputs, *prior):
        self.seen.append({k: v.clone() for k, v in inputs.items()})
        return self.inner(inputs, *prior)


def test_forward_never_receives_test_outputs(tmp_path):
    """Run the evaluation loop with a spy model on tasks whose test outputs are unique sentinel grids:
    no input the model receives holds a test output, and predictions do not change when the answers do."""
    from topas_lit.run import build_module
    from lightning.pytorch import Trainer

    cfg = compose_cfg(["data.test.limit=2", "module.eval.n_augment=2", "rail.depth=1", "rail.beam_width=2",
                       "rail.policy_topk=2"])
    cfg.module.eval.run_dir = str(tmp_path)

    def run_eval(mutate_answers: bool):
        torch.manual_seed(0)
        module = build_module(cfg)
        spy = Spy(module.model)
        module.model = spy
        dm = ARCDataModule(**{k: v for k, v in cfg.data.items() if k != "_target_"})
        dm.setup("test")
        if mutate_answers:
            for tid, outs in dm.test_set.solutions.items():
                dm.test_set.solutions[tid] = [[[(v + 1) % 10 for v in row] for row in g] for g in outs]
        Trainer(logger=False, enable_progress_bar=False, inference_mode=False, accelerator="cpu").test(module, dm)
        return spy.seen, dm

    for p in (tmp_path / "eval").glob("**/*.jsonl"):
        p.unlink()
    seen, dm = run_eval(False)
    assert seen and all(set(s) == {"demo_in", "demo_in_size", "demo_out", "demo_out_size", "demo_mask",
                                   "test_in", "test_in_size"} for s in seen)
    answers = [torch.tensor(g) for outs in dm.test_set.solutions.values() for g in outs]
    for s in seen:
        for grid in answers:
            h, w = grid.shape
            # the (unaugmented) answer never appears as a test input nor as a demo output of its own item
            assert not ((s["test_in"][:, :h, :w] == grid).flatten(1).all(1) & (s["test_in_size"] == torch.tensor([h, w])).all(1)).any()
    first = (tmp_path / "eval" / "tasks.rank0.jsonl").read_text()
    for p in (tmp_path / "eval").glob("**/*.jsonl"):
        p.unlink()
    run_eval(True)
    second = (tmp_path / "eval" / "tasks.rank0.jsonl").read_text()
    import json
    strip = lambda text: [(r["task_id"], r["attempts"], {n: p["attempts"] for n, p in r["sources"].items()})
                          for r in map(json.loads, text.splitlines())]
    assert strip(first) == strip(second)      # predictions independent of the held answers
