"""Painter of the sequence solver: next-token logits over the output grid's tokens, and grid-shaped decoding.

``forward(h) -> logits [..., VOCAB]``. Decoding paints the output one token at a time under the grid grammar,
enforced with masks on the device: a row holds 1..30 colours; the first row fixes the width, every later row
ends with a newline at exactly that width; END comes only at the start of a row after at least one row; at most
30 rows. So every finished decode is a rectangular grid. The choice is the argmax of the allowed tokens; the
score is the model's own log-probability of the chosen token (the unmasked distribution).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from topas_lit.data.sequences import END, NEWLINE, PAD_TOKEN, VOCAB_SIZE, Z_END, Z_OUT
from topas_lit.modules.dsl.grid import N_COLOURS, PAD, S


@dataclass
class PaintState:
    """Per sequence: column and row of the next token, the fixed width (0 until the first row ends), done, and
    the canvas painted so far (``[B, 30 * 30 + 1]``, PAD where nothing was painted; the last slot absorbs writes
    of non-colour tokens)."""

    x: Tensor
    y: Tensor
    width: Tensor
    done: Tensor
    canvas: Tensor

    @classmethod
    def start(cls, b: int, device) -> "PaintState":
        z = torch.zeros(b, dtype=torch.long, device=device)
        return cls(z, z.clone(), z.clone(), torch.zeros(b, dtype=torch.bool, device=device),
                   torch.full((b, S * S + 1), PAD, dtype=torch.long, device=device))

    def grid(self) -> tuple[Tensor, Tensor]:
        """(cells [B, 30, 30] with PAD outside, size [B, 2]); size (0, 0) where nothing finished."""
        cells = self.canvas[:, : S * S].view(-1, S, S)
        size = torch.stack([self.y, self.width], -1) * self.done[:, None]
        return cells, size


class Painter(nn.Module):
    def __init__(self, d_model: int):
        super().__init__()
        self.head = nn.Linear(d_model, VOCAB_SIZE, bias=False)
        nn.init.normal_(self.head.weight, std=0.02)

    def forward(self, h: Tensor) -> Tensor:
        return self.head(h)

    @staticmethod
    def allowed(state: PaintState) -> Tensor:
        """[B, VOCAB] bool: the tokens the grid grammar allows next."""
        open_row = torch.where(state.width > 0, state.x < state.width, state.x < S) & (state.y < S)
        newline = (state.x >= 1) & ((state.width == 0) | (state.x == state.width))
        end = (state.x == 0) & (state.y >= 1)
        vocab = torch.arange(VOCAB_SIZE, device=state.x.device)
        return (((vocab < N_COLOURS) & open_row[:, None]) | ((vocab == NEWLINE) & newline[:, None])
                | ((vocab == END) & end[:, None]))

    def step(self, logits: Tensor, state: PaintState) -> tuple[Tensor, Tensor, Tensor, PaintState]:
        """logits [B, VOCAB] of the next token -> (token [B], its position [B, 3], its log-prob [B], new state).

        Finished sequences emit PAD with log-prob 0 and keep their state."""
        logp = logits.log_softmax(-1)           # under autocast log_softmax computes in fp32
        choice = logp.masked_fill(~self.allowed(state), float("-inf")).argmax(-1)
        tok = torch.where(state.done, PAD_TOKEN, choice)
        lp = torch.where(state.done, 0.0, logp.gather(1, choice[:, None])[:, 0])
        is_nl, is_end = tok == NEWLINE, tok == END
        is_colour = tok < N_COLOURS
        pos = torch.stack([torch.where(is_end, 0, state.x), torch.where(is_end, 0, state.y),
                           torch.where(is_end, Z_END, Z_OUT)], -1)
        width = torch.where(is_nl & (state.width == 0), state.x, state.width)
        x = torch.where(is_colour, state.x + 1, torch.where(is_nl, 0, state.x))
        y = torch.where(is_nl, state.y + 1, state.y)
        at = torch.where(is_colour, state.y.clamp(max=S - 1) * S + state.x.clamp(max=S - 1), S * S)
        canvas = state.canvas.scatter(1, at[:, None], tok[:, None])
        return tok, pos, lp, PaintState(x, y, width, state.done | is_end, canvas)
