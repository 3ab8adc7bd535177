"""GPU checks (skipped without CUDA; run on the device machine): no host syncs inside the forward, and the
CUDA-graph forward gives the eager forward's answers."""
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


@pytest.fixture(scope="module")
def model():
    from common import build_model
    _, m = build_model(["rail.depth=2"], "cuda")
    return m


@pytest.mark.parametrize("batch", [1, 16])
def test_forward_has_no_dtoh_copies_or_syncs(model, batch):
    from common import eval_batch
    from profile_forward import count_host_reads
    counts = count_host_reads(model, eval_batch(batch, 3, "cuda"))
    assert counts["forwards"] == 2
    assert counts["memcpy_dtoh"] == 0 and counts["sync_calls"] == 0, counts


def test_sync_debug_mode_error_passes(model):
    from common import eval_batch
    inputs = eval_batch(4, 3, "cuda")
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        with torch.no_grad():
            model(inputs)
    finally:
        torch.cuda.set_sync_debug_mode(0)


def test_cuda_graph_forward_matches_eager(model):
    from common import eval_batch
    from topas_lit.capture import GraphedForward
    inputs = eval_batch(3, 3, "cuda")
    with torch.no_grad():
        eager = model(inputs)
    graphed = GraphedForward(model)
    for _ in range(2):                                   # capture, then replay
        out = graphed(inputs)
    assert torch.equal(out.grid, eager.grid) and torch.equal(out.extras["rail"], eager.extras["rail"])
    assert torch.equal(out.extras["program"], eager.extras["program"])


def test_cuda_graph_forward_follows_the_ebr_gate(model):
    """The gate is host state a captured graph bakes in; after TTT predictions can run under another gate than
    evaluation's, so each gate gets its own graph: always -> never -> always each match eager."""
    from common import eval_batch
    from topas_lit.capture import GraphedForward
    inputs = eval_batch(3, 3, "cuda")
    graphed = GraphedForward(model)
    start = model.ebr.gate
    try:
        for gate in ("always", "never", "always"):
            model.ebr.set_gate(gate)
            with torch.no_grad():
                eager = model(inputs, rails=False)
            out = graphed(inputs, rails=False)
            assert torch.equal(out.extras["ebr_applied"], eager.extras["ebr_applied"]), gate
            assert torch.equal(out.grid, eager.grid), gate
    finally:
        model.ebr.set_gate(start)


def test_rails_source_under_cuda_graphs_matches_eager(model):
    """The rails source runs the op prior + search outside the model's forward; with model.compile=cudagraph that
    part replays as CUDA graphs too (capture.GraphedFunction) and gives the eager answers."""
    from common import eval_batch
    from topas_lit.capture import GraphedFunction
    from topas_lit.eval.sources import EvalContext, RailsSource
    source = RailsSource(search_augmentations=2, n_augment=2)
    source.start(EvalContext(None, model, model.__call__, torch.device("cuda")))
    inputs = eval_batch(3, 3, "cuda")
    eager = source.propose(inputs)
    source.prior_and_search = GraphedFunction(source._prior_and_search)
    for _ in range(2):                                   # capture, then replay
        graphed = source.propose(inputs)
    for key in eager:
        assert torch.equal(eager[key], graphed[key]), key
