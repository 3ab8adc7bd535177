"""The sequence solver's data: serialisation against a plain reference, lengths under every dihedral transform,
colour permutations that respect a task's output-only colours, and epoch batches (every pair once, seeded,
split across ranks, resumable)."""
import random

import pytest
import torch

from topas_lit.data.augment import augment, identity_perm
from topas_lit.data.pair_bank import EpochBatches, PairBank, build_batch, longest_length
from topas_lit.data.sequences import (END, NEWLINE, PAD_TOKEN, SEP, START, output_targets, pair_length,
                                      permutable_colours, random_colour_perms, serialize, tokens_to_grid)
from topas_lit.data.tensors import pad_grids


def reference(inp, out):
    """The format, written out by hand: tokens and (x, y, z) positions."""
    toks, pos = [START], [(0, 0, 0)]
    for z, grid in ((1, inp), (3, out)):
        for r, row in enumerate(grid):
            for c, v in enumerate(row):
                toks.append(v)
                pos.append((c, r, z))
            toks.append(NEWLINE)
            pos.append((len(row), r, z))
        toks.append(SEP if z == 1 else END)
        pos.append((0, 0, 2 if z == 1 else 4))
    return toks, pos


def random_grid(rng, h=None, w=None):
    h, w = h or rng.randint(1, 30), w or rng.randint(1, 30)
    return [[rng.randint(0, 9) for _ in range(w)] for _ in range(h)]


def test_serialize_matches_the_reference_on_random_and_extreme_grids():
    rng = random.Random(0)
    pairs = [(random_grid(rng), random_grid(rng)) for _ in range(12)]
    pairs += [([[5]], [[7]]), (random_grid(rng, 30, 30), random_grid(rng, 30, 30)), ([[1] * 30], [[2]] * 30)]
    ci, si = pad_grids([p[0] for p in pairs])
    co, so = pad_grids([p[1] for p in pairs])
    length = int(pair_length(si, so).max())
    tokens, pos, sep = serialize(ci, si, co, so, length)
    for n, (i, o) in enumerate(pairs):
        toks, ps = reference(i, o)
        assert tokens[n, :len(toks)].tolist() == toks
        assert [tuple(p) for p in pos[n, :len(toks)].tolist()] == ps
        assert (tokens[n, len(toks):] == PAD_TOKEN).all()
        assert tokens[n, sep[n]] == SEP
        # the targets are exactly the output part, shifted by one
        tgt = output_targets(tokens, sep)[n]
        scored = tgt[tgt >= 0].tolist()
        assert scored == toks[toks.index(SEP) + 1:]
        assert tokens_to_grid(scored) == o


def test_bank_lengths_match_serialised_lengths_under_every_dihedral_transform():
    rng = random.Random(1)
    pairs = [(random_grid(rng), random_grid(rng)) for _ in range(6)]
    bank = PairBank.build([(1, pairs, [])])
    for k in range(8):
        kk = torch.full((len(pairs),), k)
        lengths = bank.lengths(kk)
        i, isz = augment(bank.inp, bank.in_size, kk, identity_perm(len(pairs)))
        o, osz = augment(bank.out, bank.out_size, kk, identity_perm(len(pairs)))
        tokens, _, _ = serialize(i, isz, o, osz, int(lengths.max()) + 1)
        assert ((tokens != PAD_TOKEN).sum(1) == lengths).all()
        assert (lengths <= torch.tensor([longest_length(a, b) for a, b in pairs])).all()


def test_colour_permutations_fix_output_only_colours_and_background():
    allowed_list = permutable_colours([[[1, 2, 0]]], [[[1, 2, 3]]])
    assert allowed_list == [1, 2, 4, 5, 6, 7, 8, 9]        # 3 appears only in an output
    allowed = torch.zeros(200, 10, dtype=torch.bool)
    allowed[:, allowed_list] = True
    perms = random_colour_perms(allowed, torch.Generator().manual_seed(0))
    assert (perms.sort(-1).values == torch.arange(10)).all()          # permutations
    assert (perms[:, 0] == 0).all() and (perms[:, 3] == 3).all()        # fixed
    assert set(perms[:, 1].tolist()) == set(allowed_list)               # allowed colours really move


def _bank(n_tasks=7, per_task=5, seed=2):
    rng = random.Random(seed)
    return PairBank.build([(t + 1, [(random_grid(rng, rng.randint(1, 8), rng.randint(1, 8)),
                                     random_grid(rng, rng.randint(1, 8), rng.randint(1, 8))) for _ in range(per_task)],
                            []) for t in range(n_tasks)])


def test_epoch_batches_hold_every_pair_once_and_depend_only_on_seed_and_epoch():
    bank = _bank()
    a, b = EpochBatches(bank, 4, bucket=2, seed=3), EpochBatches(bank, 4, bucket=2, seed=3)
    e0 = a.batches(0)
    assert sorted(i for batch in e0 for i in batch["idx"].tolist()) == list(range(len(bank)))
    assert len(e0) == len(a)
    for x, y in zip(e0, b.batches(0)):
        assert torch.equal(x["idx"], y["idx"]) and torch.equal(x["perm"], y["perm"]) and x["length"] == y["length"]
    assert [x["idx"].tolist() for x in a.batches(1)] != [x["idx"].tolist() for x in e0]
    for batch in e0:      # the padded length covers every item
        assert batch["length"] == int(bank.lengths(torch.zeros(len(bank), dtype=torch.long).index_copy(
            0, batch["idx"], batch["k"]))[batch["idx"]].max())


def test_ranks_take_disjoint_equal_shares_and_a_resumed_sampler_skips_what_was_consumed():
    bank = _bank(n_tasks=9)
    r0, r1 = EpochBatches(bank, 3, seed=1, world=2, rank=0), EpochBatches(bank, 3, seed=1, world=2, rank=1)
    s0, s1 = r0.batches(0), r1.batches(0)
    assert len(s0) == len(s1) == len(r0)
    assert not set(i for b in s0 for i in b["idx"].tolist()) & set(i for b in s1 for i in b["idx"].tolist())
    full = list(iter(r0))
    r0.consumed = 2
    state = r0.state_dict()
    fresh = EpochBatches(bank, 3, seed=1, world=2, rank=0)
    fresh.load_state_dict(state)
    assert [b["idx"].tolist() for b in fresh] == [b["idx"].tolist() for b in full[2:]]
    with pytest.raises(ValueError, match="seed"):
        EpochBatches(bank, 3, seed=2, world=2, rank=0).load_state_dict(state)


def test_build_batch_serialises_the_augmented_pairs():
    bank = _bank(n_tasks=2, per_task=3)
    batch = EpochBatches(bank, 6, seed=0).batches(0)[0]
    built = build_batch(bank, batch)
    for row, n in enumerate(batch["idx"].tolist()):
        k, perm = batch["k"][row:row + 1], batch["perm"][row:row + 1]
        i, isz = augment(bank.inp[n:n + 1], bank.in_size[n:n + 1], k, perm)
        o, osz = augment(bank.out[n:n + 1], bank.out_size[n:n + 1], k, perm)
        toks, _, _ = serialize(i, isz, o, osz, batch["length"])
        assert torch.equal(built["tokens"][row], toks[0])
        assert built["task"][row] == bank.task_row[n] and built["dihedral"][row] == k[0]
