"""The training pairs of a sequence-solver run and the batches of each epoch.

``PairBank``: every training pair as padded grids with its task's embedding row and the colours a colour
augmentation may permute for that task. It lives on the host and is copied to the device once; batches carry only
indices and augmentation choices, and the device gathers, augments and serialises them (``build_batch``).

``EpochBatches``: the batches of one epoch from (seed, epoch) only. Each pair appears once, under a random
dihedral transform and colour permutation; pairs are shuffled, then sorted by length inside buckets of
``bucket`` batches so that a batch pads little, and the batches are shuffled again. Ranks take every world-th
batch (equal counts). The position inside an epoch (batches consumed) is part of the checkpoint, so a killed run
resumes with the batches it had not trained on.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils.data import DistributedSampler

from topas_lit.data.augment import SWAPS_SIDES, augment
from topas_lit.data.sequences import output_targets, pair_length, permutable_colours, random_colour_perms, serialize
from topas_lit.data.tensors import pad_grids
from topas_lit.modules.dsl.grid import N_COLOURS


def longest_length(inp: list, out: list) -> int:
    """The pair's sequence length under its longest dihedral transform (a transpose changes the newline count)."""
    h, w, ho, wo = len(inp), len(inp[0]), len(out), len(out[0])
    return 3 + h * w + ho * wo + max(h, w) + max(ho, wo)


def epoch_seed(seed: int, epoch: int, salt: str = "") -> int:
    digest = hashlib.blake2b(f"{seed}:{epoch}:{salt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


@dataclass
class PairBank:
    inp: Tensor          # [N, 30, 30] long, PAD outside
    in_size: Tensor      # [N, 2]
    out: Tensor          # [N, 30, 30]
    out_size: Tensor     # [N, 2]
    task_row: Tensor     # [N] long: the pair's task embedding row
    allowed: Tensor      # [N, 10] bool: colours a colour augmentation may permute (the task's)

    def __len__(self) -> int:
        return self.inp.shape[0]

    @classmethod
    def build(cls, tasks: list[tuple[int, list[tuple[list, list]], list]], max_length: int | None = None
              ) -> "PairBank":
        """``tasks``: (embedding row, training pairs, inputs without outputs) per task. The permutable colours are
        the task's: every pair's and every extra input's (a test input) colours count as inputs. ``max_length``:
        leave out pairs whose sequence is longer under some dihedral transform (small-compute runs)."""
        ins, outs, rows, allowed = [], [], [], []
        for row, pairs, extra_inputs in tasks:
            ok = permutable_colours([p[0] for p in pairs] + list(extra_inputs), [p[1] for p in pairs])
            mask = torch.zeros(N_COLOURS, dtype=torch.bool)
            mask[ok] = True
            for i, o in pairs:
                if max_length is not None and longest_length(i, o) > max_length:
                    continue
                ins.append(i)
                outs.append(o)
                rows.append(row)
                allowed.append(mask)
        if not ins:
            raise ValueError("no training pairs: the training split and the evaluated tasks' demos are all empty")
        inp, in_size = pad_grids(ins)
        out, out_size = pad_grids(outs)
        return cls(inp, in_size, out, out_size, torch.tensor(rows), torch.stack(allowed))

    def to(self, device) -> "PairBank":
        return PairBank(*(t.to(device) for t in (self.inp, self.in_size, self.out, self.out_size, self.task_row,
                                                 self.allowed)))

    def lengths(self, k: Tensor) -> Tensor:
        """Sequence lengths [N] under dihedral transforms ``k [N]`` (a transpose swaps the sides)."""
        swap = SWAPS_SIDES[k][:, None]
        ins = torch.where(swap, self.in_size.flip(-1), self.in_size)
        outs = torch.where(swap, self.out_size.flip(-1), self.out_size)
        return pair_length(ins, outs)


class EpochBatches(DistributedSampler):
    """A sampler whose items are whole batches (a DataLoader with ``batch_size=None`` yields them as they are).
    A DistributedSampler so that Lightning neither replaces it under DDP nor forgets to call ``set_epoch``."""

    def __init__(self, bank: PairBank, batch_size: int, bucket: int = 16, augment: bool = True, seed: int = 0,
                 world: int = 1, rank: int = 0):
        if batch_size < 1 or bucket < 1:
            raise ValueError(f"data.batch_size and data.bucket must be >= 1, got {batch_size}, {bucket}")
        super().__init__(range(len(bank)), num_replicas=world, rank=rank, shuffle=False, seed=seed)
        self.bank, self.batch_size, self.bucket, self.augment = bank, batch_size, bucket, augment
        # the draws use a CPU generator: the sampler reads a host copy of the sizes and colour masks, whichever
        # device the bank lives on (per-task TTT keeps its bank on the GPU)
        self.host = bank.to("cpu")   # no copy when the bank is already on the host
        self.world = world
        self.consumed = 0

    def batches(self, epoch: int) -> list[dict]:
        """All ranks' batches of an epoch, then this rank's share: each a dict of idx [B], k [B], perm [B, 10] and
        the padded length."""
        gen = torch.Generator().manual_seed(epoch_seed(self.seed, epoch))
        n = len(self.bank)
        order = torch.randperm(n, generator=gen)
        if self.augment:
            k = torch.randint(0, 8, (n,), generator=gen)
            perm = random_colour_perms(self.host.allowed, gen)
        else:
            k = torch.zeros(n, dtype=torch.long)
            perm = torch.arange(N_COLOURS).expand(n, N_COLOURS).clone()
        lengths = self.host.lengths(k)
        out = []
        span = self.batch_size * self.bucket
        for start in range(0, n, span):
            chunk = order[start:start + span]
            chunk = chunk[lengths[chunk].argsort(descending=True, stable=True)]
            for b in range(0, len(chunk), self.batch_size):
                idx = chunk[b:b + self.batch_size]
                out.append({"idx": idx, "k": k[idx], "perm": perm[idx], "length": int(lengths[idx].max())})
        shuffled = torch.randperm(len(out), generator=gen).tolist()
        out = [out[i] for i in shuffled]
        per_rank = len(out) // self.world if self.world > 1 else len(out)
        return out[self.rank * per_rank:(self.rank + 1) * per_rank] if self.world > 1 else out

    def __len__(self) -> int:
        span = self.batch_size * self.bucket
        n = sum(-(-min(span, len(self.bank) - s) // self.batch_size) for s in range(0, len(self.bank), span))
        return n // self.world if self.world > 1 else n

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.consumed = 0
        super().set_epoch(epoch)

    def __iter__(self):
        return iter(self.batches(self.epoch)[self.consumed:])

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "consumed": self.consumed, "seed": self.seed, "world": self.world}

    def load_state_dict(self, state: dict) -> None:
        if (state["seed"], state["world"]) != (self.seed, self.world):
            raise ValueError(f"the checkpoint's batches were drawn with seed {state['seed']} on {state['world']} "
                             f"process(es); this run has seed {self.seed} on {self.world}: resume with the same "
                             f"seed and devices")
        self.epoch, self.consumed = int(state["epoch"]), int(state["consumed"])


def build_batch(bank: PairBank, batch: dict) -> dict[str, Tensor]:
    """On the bank's device: gather the batch's pairs, augment them, serialise them.

    -> tokens [B, L], positions [B, L, 3], targets [B, L] (-100 outside the output part), task [B], dihedral [B],
    colours [B, 10] (the permutation), and the augmented input grids inp [B, 30, 30], in_size [B, 2] (read by
    ObjectSlots).
    """
    idx, k, perm = batch["idx"], batch["k"], batch["perm"]
    inp, in_size = augment(bank.inp[idx], bank.in_size[idx], k, perm)
    out, out_size = augment(bank.out[idx], bank.out_size[idx], k, perm)
    tokens, pos, sep = serialize(inp, in_size, out, out_size, batch["length"])
    return {"tokens": tokens, "positions": pos, "targets": output_targets(tokens, sep),
            "task": bank.task_row[idx], "dihedral": k, "colours": perm, "inp": inp, "in_size": in_size}
