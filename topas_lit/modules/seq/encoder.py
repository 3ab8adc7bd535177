"""GridEncoder of the sequence solver: cell tokens -> vectors, conditioned on the task and the augmentation.

Every token of a pair's sequence (cells, newlines, START/SEP/END) gets its token embedding plus the embedding of
its task (one learned row per task id: the puzzle embedding that joint TTT trains; row 0 is "unknown task") and of
the dihedral transform the pair was drawn under. With ``colour_cond`` it also gets the embedding of the colour
permutation the pair was drawn under (the sum over colours c of a learned vector for "c is shown as perm[c]"):
without it, a task whose rule names colours is ambiguous under a permutation the model cannot see. Positions are not added here: they enter attention as 3-D rotary
phases (``Rotary3D``), x = column, y = row, z = part of the sequence.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from topas_lit.data.sequences import VOCAB_SIZE
from topas_lit.modules.dsl.grid import N_COLOURS

N_DIHEDRAL = 8
AXES_MAX = (32, 32, 8)     # x (column, newline at 30), y (row), z (START, input, SEP, output, END)


class GridEncoder(nn.Module):
    def __init__(self, d_model: int, n_tasks: int, dropout: float = 0.0, task_dropout: float = 0.0,
                 colour_cond: bool = False):
        """``task_dropout``: in training, the fraction of sequences whose task row is replaced by row 0 (unknown
        task), so that row 0 learns to predict without a task (what a run without TTT predicts with)."""
        super().__init__()
        if n_tasks < 1:
            raise ValueError(f"model.n_tasks must be >= 1 (row 0 is the unknown task), got {n_tasks}")
        self.token = nn.Embedding(VOCAB_SIZE, d_model)
        self.task = nn.Embedding(n_tasks, d_model)
        self.dihedral = nn.Embedding(N_DIHEDRAL, d_model)
        self.colour = nn.Embedding(N_COLOURS * N_COLOURS, d_model) if colour_cond else None
        self.drop = nn.Dropout(dropout)
        self.task_dropout = task_dropout
        for emb in (self.token, self.task, self.dihedral, self.colour):
            if emb is not None:
                nn.init.normal_(emb.weight, std=0.02)

    def forward(self, tokens: Tensor, task: Tensor, dihedral: Tensor, colours: Tensor | None = None,
                gen: torch.Generator | None = None) -> Tensor:
        """tokens [B, L], task [B], dihedral [B], colours [B, 10] (the permutation; None: identity) -> [B, L, d]."""
        if self.training and self.task_dropout > 0:
            # (no generator argument unless one is given: torch.compile cannot trace generator=None)
            draw = torch.rand(task.shape, device=task.device) if gen is None else \
                torch.rand(task.shape, device=task.device, generator=gen)
            drop = draw < self.task_dropout
            task = torch.where(drop, torch.zeros_like(task), task)
        cond = self.task(task) + self.dihedral(dihedral)
        if self.colour is not None:
            shown = torch.arange(N_COLOURS, device=task.device).expand(task.shape[0], -1) if colours is None else colours
            cond = cond + self.colour(torch.arange(N_COLOURS, device=task.device) * N_COLOURS + shown).sum(1)
        return self.drop(self.token(tokens) + cond[:, None, :])


class Rotary3D(nn.Module):
    """Rotary phases from 3-D positions: the head's rotation pairs are split between x, y and z.

    ``phases(pos [B, L, 3]) -> (cos, sin) [B, 1, L, head_dim // 2]``, computed once per forward and shared by every
    attention layer; ``rotate(x, cos, sin)`` applies them to q or k ``[B, H, L, head_dim]`` (half-split pairs).
    """

    def __init__(self, head_dim: int, base: float = 10000.0):
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"head dim must be even for rotary positions, got {head_dim}")
        pairs = head_dim // 2
        px = py = pairs // 3
        pz = pairs - px - py
        freqs, axis = [], []
        for a, n in enumerate((px, py, pz)):
            freqs.append(1.0 / base ** (torch.arange(n) / max(n, 1)))
            axis.append(torch.full((n,), a, dtype=torch.long))
        self.register_buffer("inv_freq", torch.cat(freqs), persistent=False)
        self.register_buffer("axis", torch.cat(axis), persistent=False)

    def phases(self, pos: Tensor) -> tuple[Tensor, Tensor]:
        angle = pos.gather(-1, self.axis.expand(*pos.shape[:-1], -1)).to(self.inv_freq.dtype) * self.inv_freq
        angle = angle[:, None]                                                   # [B, 1, L, pairs]
        return angle.cos(), angle.sin()

    @staticmethod
    def rotate(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        h = x.shape[-1] // 2
        x1, x2 = x[..., :h], x[..., h:]
        cos, sin = cos.to(x.dtype), sin.to(x.dtype)
        return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], -1)
