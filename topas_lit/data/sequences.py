"""ARC pairs as token sequences for the sequence solver: vocabulary, device-side serialisation, 3-D positions.

One input->output pair is one sequence (mdlARC's format):

    START  input rows (cells, NEWLINE after each row)  SEP  output rows (cells, NEWLINE after each row)  END

Each token carries a 3-D position (x = column, y = row, z = part): START (0,0,0), input cells and newlines
(c, r, 1), SEP (0,0,2), output cells and newlines (c, r, 3), END (0,0,4). A newline sits at x = width.

Serialisation runs on the device from padded grids (``cells [B, 30, 30]`` with PAD outside, ``size [B, 2]``), as
gathers over the output positions: no per-item Python, no scatter. The host only decides the batch's padded
length, from the grid sizes it already knows (``pair_length``). Sequences are right-padded with PAD_TOKEN: under a
causal mask no real token attends to a pad, so training needs no attention mask.
"""
from __future__ import annotations

import torch
from torch import Tensor

from topas_lit.modules.dsl.grid import N_COLOURS, S

NEWLINE, START, SEP, END, PAD_TOKEN = 10, 11, 12, 13, 14
VOCAB_SIZE = 15
MAX_GRID_TOKENS = S * (S + 1)                       # 930: a 30x30 grid with its newlines
MAX_OUTPUT_TOKENS = MAX_GRID_TOKENS + 1             # + END
MAX_LEN = 3 + 2 * MAX_GRID_TOKENS                   # 1863
Z_START, Z_IN, Z_SEP, Z_OUT, Z_END = 0, 1, 2, 3, 4


def grid_tokens(h: int, w: int) -> int:
    return h * (w + 1)


def pair_length(in_size: Tensor, out_size: Tensor | None = None) -> Tensor:
    """Sequence lengths ``[B]`` (host or device): START + input + SEP (+ output + END when ``out_size``)."""
    n = 2 + in_size[..., 0] * (in_size[..., 1] + 1)
    if out_size is not None:
        n = n + out_size[..., 0] * (out_size[..., 1] + 1) + 1
    return n


def _grid_part(cells: Tensor, size: Tensor, local: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Token, column and row at local offsets ``local [B, L]`` inside one grid's row-major token run."""
    w1 = size[:, 1, None] + 1
    row, col = local // w1, local % w1
    flat = (row.clamp(max=S - 1) * S + col.clamp(max=S - 1))
    cell = cells.reshape(cells.shape[0], S * S).gather(1, flat)
    return torch.where(col == size[:, 1, None], NEWLINE, cell), col, row


def serialize(inp: Tensor, in_size: Tensor, out: Tensor | None, out_size: Tensor | None, length: int
              ) -> tuple[Tensor, Tensor, Tensor]:
    """Padded grids -> (tokens [B, length] long, positions [B, length, 3] long, output_start [B] long).

    ``output_start``: index of SEP; the model's predictions at positions SEP..END-1 are the output tokens.
    Without ``out`` the sequence ends at SEP (a prompt, for decoding). ``length`` must cover the longest item.
    """
    b = inp.shape[0]
    j = torch.arange(length, device=inp.device).expand(b, length)
    sep = (1 + in_size[:, 0] * (in_size[:, 1] + 1))[:, None]
    tok_in, x_in, y_in = _grid_part(inp, in_size, (j - 1).clamp(min=0))
    body = (j > 0) & (j < sep)
    tokens = torch.where(body, tok_in, torch.where(j == 0, START, torch.where(j == sep, SEP, PAD_TOKEN)))
    x = torch.where(body, x_in, 0)
    y = torch.where(body, y_in, 0)
    z = torch.where(body, Z_IN, torch.where(j == sep, Z_SEP, Z_START))
    if out is not None:
        end = sep + 1 + (out_size[:, 0] * (out_size[:, 1] + 1))[:, None]
        tok_out, x_out, y_out = _grid_part(out, out_size, (j - sep - 1).clamp(min=0))
        body = (j > sep) & (j < end)
        tokens = torch.where(body, tok_out, torch.where(j == end, END, tokens))
        x = torch.where(body, x_out, x)
        y = torch.where(body, y_out, y)
        z = torch.where(body, Z_OUT, torch.where(j == end, Z_END, z))
    return tokens, torch.stack([x, y, z], -1), sep[:, 0]


def output_targets(tokens: Tensor, sep: Tensor) -> Tensor:
    """Next-token targets ``[B, L]`` for the output part only (-100 elsewhere): position t predicts tokens[t+1]
    for SEP <= t < END (the output cells, newlines and END)."""
    nxt = torch.cat([tokens[:, 1:], torch.full_like(tokens[:, :1], PAD_TOKEN)], 1)
    j = torch.arange(tokens.shape[1], device=tokens.device)
    keep = (j >= sep[:, None]) & (nxt != PAD_TOKEN)
    return torch.where(keep, nxt, -100)


def tokens_to_grid(tokens: list[int]) -> list[list[int]] | None:
    """Decoded output tokens (after SEP) -> grid, or None when they do not form a rectangular grid."""
    rows, row = [], []
    for t in tokens:
        if t == END:
            break
        if t == NEWLINE:
            if not row:
                return None
            rows.append(row)
            row = []
        elif 0 <= t < N_COLOURS:
            row.append(t)
        else:
            return None
    if row or not rows or any(len(r) != len(rows[0]) for r in rows) or len(rows) > S or len(rows[0]) > S:
        return None
    return rows


def permutable_colours(pairs_in: list, pairs_out: list) -> list[int]:
    """Colours 1..9 a colour augmentation may permute for one task: all but those that appear only in outputs
    (a colour the output introduces cannot be read off the input, so the task embedding must keep its meaning)."""
    seen_in = {v for g in pairs_in for row in g for v in row}
    seen_out = {v for g in pairs_out for row in g for v in row}
    return [c for c in range(1, N_COLOURS) if not (c in seen_out and c not in seen_in)]


def random_colour_perms(allowed: Tensor, gen: torch.Generator) -> Tensor:
    """``allowed [N, 10]`` bool -> ``[N, 10]`` colour maps that shuffle each row's allowed colours among themselves
    and fix the others (colour 0 is never allowed)."""
    n = allowed.shape[0]
    idx = torch.arange(N_COLOURS).expand(n, N_COLOURS)
    keys = torch.where(allowed, torch.rand(n, N_COLOURS, generator=gen), 2.0 + idx)
    shuffled = keys.argsort(-1)                                     # allowed in random order, then the rest
    base = torch.where(allowed, idx, N_COLOURS + idx).argsort(-1)   # allowed ascending, then the rest
    return torch.empty(n, N_COLOURS, dtype=torch.long).scatter_(1, base, shuffled)
