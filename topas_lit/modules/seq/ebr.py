"""EBR of the sequence solver: the energy of a candidate answer, and the ranking it refines.

The energy of an answer grid for a test input is the model's negative log-likelihood of the answer's tokens
given the input, summed over several views (dihedral x colour augmentations of the same input/answer pair, each
read with its own dihedral embedding): a product of experts over views. A candidate that the model finds likely
under every view has low energy. ``EBR.energy`` scores candidates in batches; the refinement it gives is a
re-ranking of the decoded candidates (``rank="energy"``) beside the default vote-then-likelihood ranking.
It has no parameters of its own: it reads the model it refines.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from topas_lit.data.augment import augment
from topas_lit.data.sequences import output_targets, pair_length, serialize


class EBR(nn.Module):
    def __init__(self, views: int = 8, rank: str = "votes"):
        """``views``: augmentations each candidate is scored under (0: EBR off); ``rank``: votes (votes, then the
        decode's likelihood) | energy (the product-of-experts energy first)."""
        super().__init__()
        if views < 0:
            raise ValueError(f"model.ebr.views must be >= 0, got {views}")
        if rank == "energy" and views == 0:
            raise ValueError("model.ebr.rank=energy needs model.ebr.views >= 1")
        if rank not in ("votes", "energy"):
            raise ValueError(f"model.ebr.rank must be 'votes' or 'energy', got {rank!r}")
        self.views, self.rank = views, rank

    @staticmethod
    def sequence_logp(model, inp: Tensor, in_size: Tensor, out: Tensor, out_size: Tensor, task: Tensor,
                      k: Tensor, perm: Tensor) -> Tensor:
        """log p(out | inp) per item [B] under augmentation (k, perm), teacher-forced in one forward."""
        a_in, a_in_size = augment(inp, in_size, k, perm)
        a_out, a_out_size = augment(out, out_size, k, perm)
        length = int(pair_length(a_in_size, a_out_size).max())    # host read of sizes: outside the forward
        tokens, pos, sep = serialize(a_in, a_in_size, a_out, a_out_size, length)
        targets = output_targets(tokens, sep)
        logits = model(tokens, pos, task, k, perm, a_in, a_in_size)
        logp = logits.log_softmax(-1)
        picked = logp.gather(-1, targets.clamp(min=0)[..., None])[..., 0]
        return (picked * (targets >= 0)).sum(1)

    def energy(self, model, inp: Tensor, in_size: Tensor, out: Tensor, out_size: Tensor, task: Tensor,
               views_k: Tensor, views_perm: Tensor) -> Tensor:
        """Energy per candidate [B]: minus the mean over views of log p(candidate | input).
        ``views_k [B, V]``, ``views_perm [B, V, 10]``: each candidate's views (colour maps respect its task)."""
        total = torch.zeros(inp.shape[0], device=inp.device)
        for v in range(views_k.shape[1]):
            total = total + self.sequence_logp(model, inp, in_size, out, out_size, task, views_k[:, v],
                                               views_perm[:, v])
        return -total / views_k.shape[1]
