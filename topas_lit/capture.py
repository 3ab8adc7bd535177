"""Captured inference: the sync-free forward replayed as CUDA graphs (or compiled), selected by ``model.compile``.

``none``: eager. ``cudagraph``: one CUDA graph per input-shape bucket, captured on first use and replayed
afterwards (the forward never reads values on the host, so the whole forward, search rails and EBR refinement
included, fits in one graph). ``reduce-overhead``: ``torch.compile(mode="reduce-overhead")`` of the forward.
Inputs are padded to shape buckets (items to a power of two, demos to the next listed count) so that a few
graphs serve a whole evaluation; padded items are dropped from the outputs.
"""
from __future__ import annotations

import torch
from torch import Tensor

from topas_lit.modules.topas import TopasModel, TopasOutput

MODES = ("none", "cudagraph", "reduce-overhead")
DEMO_BUCKETS = (2, 3, 4, 5, 6, 8, 10, 12, 16)


def bucket_items(b: int) -> int:
    return 1 << (b - 1).bit_length()


def bucket_demos(d: int) -> int:
    return next((x for x in DEMO_BUCKETS if x >= d), d)


def pad_inputs(inputs: dict[str, Tensor], b: int, d: int) -> dict[str, Tensor]:
    """Pad items (repeating item 0) to b and demo slots (masked, 1x1 colour-0 grids) to d."""
    b0, d0 = inputs["demo_mask"].shape
    out = {}
    for k, v in inputs.items():
        if k.startswith("demo") and d > d0:
            fill = {"demo_in": 10, "demo_out": 10, "demo_in_size": 1, "demo_out_size": 1, "demo_mask": 0}[k]
            pad = torch.full((b0, d - d0, *v.shape[2:]), fill, dtype=v.dtype, device=v.device)
            if k in ("demo_in", "demo_out"):
                pad[:, :, 0, 0] = 0
            v = torch.cat([v, pad], 1)
        if b > b0:
            v = torch.cat([v, v[:1].expand(b - b0, *v.shape[1:])], 0)
        out[k] = v
    return out


def slice_output(out: TopasOutput, b: int) -> TopasOutput:
    """The first b items of an output, cloned out of the graph's static memory."""
    def cut(x):
        return x[:b].clone() if isinstance(x, Tensor) and x.dim() > 0 and x.shape[0] >= b else x
    return TopasOutput(cut(out.grid), cut(out.size), cut(out.logits), cut(out.attempts),
                       {k: cut(v) for k, v in out.extras.items()})


class GraphCache:
    """CUDA graphs of a function of (padded) model inputs, one per (key, input shapes), sharing one memory pool:
    captured on first use, replayed afterwards."""

    def __init__(self, warmup: int = 2):
        self.warmup = warmup
        self.graphs: dict[tuple, tuple[dict[str, Tensor], torch.cuda.CUDAGraph, object]] = {}
        self.pool = None

    def capture(self, fn, inputs: dict[str, Tensor]):
        static_in = {k: v.clone() for k, v in inputs.items()}
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(self.warmup):
                fn(static_in)
        torch.cuda.current_stream().wait_stream(side)
        if self.pool is None:
            self.pool = torch.cuda.graph_pool_handle()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.pool):
            static_out = fn(static_in)
        return static_in, graph, static_out

    def replay(self, key: tuple, fn, inputs: dict[str, Tensor]) -> tuple[object, int]:
        """-> (the graph's static output for the padded inputs, the number of real items)."""
        b, d = inputs["demo_mask"].shape
        padded = pad_inputs(inputs, bucket_items(b), bucket_demos(d))
        key = (key, tuple((k, tuple(v.shape)) for k, v in sorted(padded.items())))
        if key not in self.graphs:
            self.graphs[key] = self.capture(fn, padded)
        static_in, graph, static_out = self.graphs[key]
        for k, v in padded.items():
            static_in[k].copy_(v)
        graph.replay()
        return static_out, b


class GraphedForward(GraphCache):
    """Callable like the model for inference (``no_grad``): ``f(inputs, rails=True) -> TopasOutput``."""

    def __init__(self, model: TopasModel, warmup: int = 2):
        super().__init__(warmup)
        self.model = model

    @torch.no_grad()
    def __call__(self, inputs: dict[str, Tensor], rails: bool = True) -> TopasOutput:
        # the EBR gate is host state the graph bakes in (after TTT it can differ from the eval gate)
        out, b = self.replay((rails, self.model.ebr.gate), lambda x: self.model(x, rails=rails), inputs)
        return slice_output(out, b)


class GraphedFunction(GraphCache):
    """``fn(inputs) -> dict of [B, ...] tensors`` (sync-free), replayed as CUDA graphs; e.g. the rails source's
    op prior + search, which runs outside the model's forward."""

    def __init__(self, fn, warmup: int = 2):
        super().__init__(warmup)
        self.fn = fn

    @torch.no_grad()
    def __call__(self, inputs: dict[str, Tensor]) -> dict[str, Tensor]:
        out, b = self.replay((), self.fn, inputs)
        return {k: v[:b].clone() for k, v in out.items()}


def inference_callable(fn, mode: str, device: torch.device):
    """``fn(inputs) -> dict of tensors`` as evaluation runs it: eager, CUDA graphs, or torch.compile (the same
    modes as ``model.compile``; graphs only on CUDA)."""
    if mode not in MODES:
        raise ValueError(f"model.compile must be one of {MODES}, got {mode!r}")
    if mode == "none" or device.type != "cuda":
        return fn
    if mode == "cudagraph":
        return GraphedFunction(fn)
    return torch.compile(fn, mode="reduce-overhead")


def inference_forward(model: TopasModel, mode: str, device: torch.device):
    """The forward evaluation uses: eager, CUDA graphs, or torch.compile (graphs only on CUDA). A plain
    callable, never a module, so holding it registers no second copy of the weights."""
    if mode not in MODES:
        raise ValueError(f"model.compile must be one of {MODES}, got {mode!r}")
    if mode == "none" or device.type != "cuda":
        return model.__call__
    if mode == "cudagraph":
        return GraphedForward(model)
    return torch.compile(model.forward, mode="reduce-overhead")


