"""DreamTokenBuffer: collects the training steps' dream tokens in a device ring buffer and feeds the DreamEngine.

Per batch it only launches device copies (``index_copy_``); how many tokens were written is counted on the host
from batch sizes (tensor shapes), so no tensor value is ever read there. It flushes when the ring is full and
when an epoch's training batches end (before validation, and at epoch end): the valid tokens go into
``pl_module.model.dream`` (``write`` takes the validity mask; all on the device) and a copy goes to host memory
(pinned, ``non_blocking`` on CUDA). At those epoch-level flushes, with ``sink="file"``, the host copies are
written to ``dirpath`` as plain tensors (``torch.load(weights_only=True)``). Its state (ring, cursor, counters,
host copies not yet written) goes into checkpoints.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from lightning.pytorch import Callback
from torch import Tensor

SINKS = ("host", "file", "none")


class DreamTokenBuffer(Callback):
    """Ring buffer of dream tokens [capacity, d_model + n_ops] on the model's device.

    sink: ``host`` keeps flushed tokens in host memory (the newest ``host_limit`` rows, see ``host_tokens``),
    ``file`` writes them to ``dirpath/rank{r}_epoch{e}_part{k}.pt`` at epoch end, ``none`` only feeds the engine.
    feed_engine: write the valid tokens into the DreamEngine's memory at each flush.
    """

    prediction_key = "dream_buffer"     # shapes predictions (through the engine's memory): in the fingerprint

    def __init__(self, capacity: int = 256, sink: str = "file", dirpath: str | None = None, feed_engine: bool = True,
                 host_limit: int = 65536):
        if capacity < 1:
            raise ValueError(f"dream buffer capacity must be >= 1, got {capacity}")
        if sink not in SINKS:
            raise ValueError(f"dream buffer sink must be one of {SINKS}, got {sink!r}")
        if sink == "file" and not dirpath:
            raise ValueError("dream buffer sink='file' needs a dirpath (the run folder)")
        self.capacity, self.sink, self.feed_engine, self.host_limit = capacity, sink, feed_engine, host_limit
        self.dirpath = Path(dirpath) if dirpath else None
        self.tokens: Tensor | None = None       # [capacity, width] on the device
        self.valid: Tensor | None = None        # [capacity] bool
        self.cursor = 0                         # next ring row (host int, from batch sizes)
        self.written = 0                        # tokens seen since the start of training
        self.flushes = 0
        self.parts = 0                          # files written
        self.files: list[str] = []
        self._chunks: list[tuple[Tensor, Tensor]] = []   # host copies (pending for file, kept for host)
        self._events: list = []                          # CUDA events of in-flight non_blocking copies
        self._pending: dict | None = None                # state loaded before the buffer was allocated

    def prediction_settings(self) -> dict:
        """What of this callback reaches predictions: the tokens it feeds the DreamEngine in training."""
        return {"capacity": self.capacity, "feed_engine": self.feed_engine}

    # ---- allocation and resume ----------------------------------------------------------------------------
    def _allocate(self, pl_module) -> None:
        dream = pl_module.model.dream
        width = dream.keys.shape[1] + dream.values.shape[1]
        device, dtype = dream.keys.device, dream.keys.dtype
        if self.tokens is None or self.tokens.shape[1] != width:
            self.tokens = torch.zeros(self.capacity, width, device=device, dtype=dtype)
            self.valid = torch.zeros(self.capacity, dtype=torch.bool, device=device)
        else:
            self.tokens, self.valid = self.tokens.to(device), self.valid.to(device)
        if self._pending is not None:
            self._apply(self._pending)
            self._pending = None

    def _apply(self, state: dict) -> None:
        if tuple(state["tokens"].shape) != tuple(self.tokens.shape):
            raise ValueError(f"dream buffer checkpoint holds a ring of shape {tuple(state['tokens'].shape)}, this run "
                             f"has {tuple(self.tokens.shape)} (dream_buffer.capacity or the model size changed)")
        self.tokens.copy_(state["tokens"])
        self.valid.copy_(state["valid"])
        self.cursor, self.written = int(state["cursor"]), int(state["written"])
        self.flushes, self.parts = int(state["flushes"]), int(state["parts"])
        self._chunks = [(t.clone(), v.clone()) for t, v in zip(state["chunk_tokens"], state["chunk_valid"])]
        self._events = []

    def state_dict(self) -> dict:
        """Plain tensors and ints (loadable with ``weights_only=True``)."""
        if self.tokens is None:
            return dict(self._pending) if self._pending is not None else {}
        self._wait()
        return {"capacity": self.capacity, "cursor": self.cursor, "written": self.written, "flushes": self.flushes,
                "parts": self.parts, "tokens": self.tokens.detach().cpu().clone(),
                "valid": self.valid.detach().cpu().clone(),
                "chunk_tokens": [t.clone() for t, _ in self._chunks],
                "chunk_valid": [v.clone() for _, v in self._chunks]}

    def load_state_dict(self, state: dict) -> None:
        if not state:
            return
        if int(state["capacity"]) != self.capacity:
            raise ValueError(f"dream buffer checkpoint has capacity {state['capacity']}, this run {self.capacity}")
        if self.tokens is None:
            self._pending = dict(state)      # Lightning restores callbacks before the model reaches its device
        else:
            self._apply(state)

    # ---- hooks --------------------------------------------------------------------------------------------
    def on_train_start(self, trainer, pl_module) -> None:
        self._allocate(pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not isinstance(outputs, Mapping) or "dream_tokens" not in outputs:
            return
        self.append(pl_module, outputs["dream_tokens"], outputs["dream_valid"])

    def on_validation_start(self, trainer, pl_module) -> None:
        # the end of the epoch's training batches: flush before validation, so the checkpoint saved after it
        # holds an empty ring and an engine that already has the epoch's tokens (no double flush on resume)
        if trainer.state.fn == "fit" and not trainer.sanity_checking and self.tokens is not None:
            self.on_train_epoch_end(trainer, pl_module)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.flush(pl_module)
        self._drain(trainer.global_rank, trainer.current_epoch)

    # ---- ring buffer --------------------------------------------------------------------------------------
    def append(self, pl_module, tokens: Tensor, valid: Tensor) -> None:
        """Copy a batch of tokens [B, width] and their validity [B] into the ring, on the device."""
        if self.tokens is None:
            self._allocate(pl_module)
        n, start = tokens.shape[0], 0
        tokens = tokens.detach().to(self.tokens.dtype)
        while start < n:
            take = min(n - start, self.capacity - self.cursor)
            rows = torch.arange(self.cursor, self.cursor + take, device=self.tokens.device)
            self.tokens.index_copy_(0, rows, tokens[start:start + take])
            self.valid.index_copy_(0, rows, valid[start:start + take])
            self.cursor += take
            self.written += take
            start += take
            if self.cursor == self.capacity:
                self.flush(pl_module)

    def flush(self, pl_module) -> None:
        """Feed the engine with the ring's valid tokens and start their copy to the host; empty the ring."""
        n = self.cursor
        if n == 0:
            return
        tokens, valid = self.tokens[:n], self.valid[:n]
        if self.feed_engine:
            dream = pl_module.model.dream
            d, step = dream.keys.shape[1], dream.capacity
            for i in range(0, n, step):          # chunks no larger than the engine: no colliding ring slots
                dream.write(tokens[i:i + step, :d], tokens[i:i + step, d:], valid[i:i + step])
        if self.sink != "none":
            self._chunks.append(self._to_host(tokens, valid))
        self.cursor = 0
        self.flushes += 1

    def _to_host(self, tokens: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
        if tokens.device.type != "cuda":
            return tokens.clone(), valid.clone()
        host_t = torch.empty(tokens.shape, dtype=tokens.dtype, pin_memory=True)
        host_v = torch.empty(valid.shape, dtype=valid.dtype, pin_memory=True)
        host_t.copy_(tokens, non_blocking=True)
        host_v.copy_(valid, non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        self._events.append(event)
        return host_t, host_v

    def _wait(self) -> None:
        for event in self._events:
            event.synchronize()
        self._events = []

    def _drain(self, rank: int, epoch: int) -> None:
        """Epoch end: wait for the host copies; write them (file) or keep the newest host_limit rows (host)."""
        self._wait()
        if self.sink == "file":
            self.dirpath.mkdir(parents=True, exist_ok=True)
            for tokens, valid in self._chunks:
                path = self.dirpath / f"rank{rank}_epoch{epoch:03d}_part{self.parts:04d}.pt"
                torch.save({"tokens": tokens.contiguous(), "valid": valid.contiguous(), "epoch": epoch, "rank": rank},
                           path)
                self.files.append(str(path))
                self.parts += 1
            self._chunks = []
        elif self.sink == "host":
            while len(self._chunks) > 1 and sum(t.shape[0] for t, _ in self._chunks) > self.host_limit:
                self._chunks.pop(0)

    def host_tokens(self) -> tuple[Tensor, Tensor]:
        """The flushed tokens held in host memory (sink='host'), oldest first: (tokens [N, width], valid [N])."""
        self._wait()
        if not self._chunks:
            width = 0 if self.tokens is None else self.tokens.shape[1]
            return torch.zeros(0, width), torch.zeros(0, dtype=torch.bool)
        return torch.cat([t for t, _ in self._chunks]), torch.cat([v for _, v in self._chunks])
