"""The sequence solver: GridEncoder -> ObjectSlots -> HRM core -> Painter, with EBR re-ranking its answers.

One input->output pair is one token sequence (``topas_lit.data.sequences``), conditioned on its task's learned
embedding (joint TTT trains the evaluated tasks' rows on their demos) and on the dihedral transform it was drawn
under. Training is next-token prediction on the output tokens; answering is grid-shaped greedy decoding from the
prompt ``START input SEP`` (``generate``), under many augmentations, voted by the evaluator's source.

forward(tokens [B, L], positions [B, L, 3], task [B], dihedral [B], colours? [B, 10], inp?, in_size?)
    -> logits [B, L, VOCAB]
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from topas_lit.data.sequences import MAX_OUTPUT_TOKENS, pair_length, serialize
from topas_lit.modules.seq.core import HRMCore, KVCache
from topas_lit.modules.seq.ebr import EBR
from topas_lit.modules.seq.encoder import GridEncoder
from topas_lit.modules.seq.painter import PaintState, Painter
from topas_lit.modules.seq.slots import ObjectSlots


COMPILE_MODES = ("none", "default")    # model.compile: eager, or torch.compile of the training forward


class TopasSeqModel(nn.Module):
    def __init__(self, d_model: int, heads: int, layers: int, d_ff: int, n_tasks: int, dropout: float = 0.0,
                 task_dropout: float = 0.0, colour_cond: bool = False, cycles: int = 1, slots: dict | None = None,
                 ebr: dict | None = None, compile: str = "none"):
        """``n_tasks``: task embedding rows (1 + the run's tasks; set by the data module's composition).
        ``compile``: none | default: torch.compile of the training forward (dynamic shapes)."""
        super().__init__()
        if compile not in COMPILE_MODES:
            raise ValueError(f"model.compile must be one of {list(COMPILE_MODES)} for the sequence model, "
                             f"got {compile!r}")
        self.compile_mode = compile
        self.encoder = GridEncoder(d_model, n_tasks, dropout, task_dropout, colour_cond)
        self.slots = ObjectSlots(d_model) if (slots or {}).get("enabled", False) else None
        self.core = HRMCore(d_model, heads, layers, d_ff, dropout, cycles)
        self.painter = Painter(d_model)
        self.ebr = EBR(**(ebr or {}))

    @property
    def n_tasks(self) -> int:
        return self.encoder.task.num_embeddings

    def embed(self, tokens: Tensor, positions: Tensor, task: Tensor, dihedral: Tensor, colours: Tensor | None,
              inp: Tensor | None, in_size: Tensor | None) -> Tensor:
        x = self.encoder(tokens, task, dihedral, colours)
        if self.slots is not None:
            if inp is None:
                raise ValueError("model.slots.enabled needs the input grids (inp, in_size) in the forward")
            x = x + self.slots(inp, in_size, positions)
        return x

    def forward(self, tokens: Tensor, positions: Tensor, task: Tensor, dihedral: Tensor,
                colours: Tensor | None = None, inp: Tensor | None = None, in_size: Tensor | None = None) -> Tensor:
        x = self.embed(tokens, positions, task, dihedral, colours, inp, in_size)
        return self.painter(self.core(x, positions))

    # ---- decoding -------------------------------------------------------------------------------------------
    @staticmethod
    def left_pad_prompts(inp: Tensor, in_size: Tensor, length: int) -> tuple[Tensor, Tensor, Tensor]:
        """Prompts ``START input SEP`` right-aligned in ``length`` columns -> (tokens, positions, valid)."""
        tokens, pos, _ = serialize(inp, in_size, None, None, length)
        shift = length - pair_length(in_size)
        j = torch.arange(length, device=inp.device)
        src = (j - shift[:, None]).clamp(min=0)
        valid = j >= shift[:, None]
        return tokens.gather(1, src), pos.gather(1, src[..., None].expand(-1, -1, 3)), valid

    @torch.no_grad()
    def generate(self, inp: Tensor, in_size: Tensor, task: Tensor, dihedral: Tensor, colours: Tensor | None,
                 prompt_length: int, max_new: int = MAX_OUTPUT_TOKENS, check_every: int = 16
                 ) -> tuple[Tensor, Tensor, Tensor]:
        """Greedy grid-shaped decoding of the output for inputs already augmented by (dihedral, colours).

        ``prompt_length``: at least the longest prompt (the caller knows the sizes on the host). Returns
        (cells [B, 30, 30] with PAD outside, size [B, 2] ((0, 0) if unfinished), summed log-prob [B]). The loop
        reads one bool on the host every ``check_every`` tokens to stop once every sequence has ended; nothing else
        leaves the device.
        """
        b, dev = inp.shape[0], inp.device
        tokens, pos, valid = self.left_pad_prompts(inp, in_size, prompt_length)
        cache = KVCache.empty(self.core.n_cache_layers, valid, prompt_length + max_new)
        h = self.core(self.embed(tokens, pos, task, dihedral, colours, inp, in_size), pos, cache, 0)
        logits = self.painter(h[:, -1])
        state = PaintState.start(b, dev)
        logp = torch.zeros(b, device=dev)
        for t in range(max_new):
            tok, tpos, lp, state = self.painter.step(logits, state)
            logp = logp + lp
            if (t + 1) % check_every == 0 and bool(state.done.all()):     # the loop's one host read
                break
            if t + 1 < max_new:      # output tokens carry no object features: the encoder alone embeds them
                h = self.core(self.encoder(tok[:, None], task, dihedral, colours), tpos[:, None], cache,
                              prompt_length + t)
                logits = self.painter(h[:, -1])
        cells, size = state.grid()
        return cells, size, logp
