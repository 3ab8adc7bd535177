"""Voting: counts, verified first, ties, the two attempts, and the exact inversion of every voting augmentation
(a prediction made on an augmented task comes back in the original task's frame before it is counted)."""
import pytest
import torch

from topas_lit.data.augment import DIHEDRAL, augment
from topas_lit.data.tensors import pad_grids
from topas_lit.eval.sources import painter_candidates, voting_augmentations
from topas_lit.eval.voting import Candidate, two_attempts, vote

A, B, C = [[1]], [[2]], [[3, 3]]


def cand(grid, verified=False, conf=0.5, rail="painter", program="painter", source="network"):
    return Candidate(grid, verified, conf, rail, program, source)


def test_votes_count_identical_grids_and_rank_by_count():
    votes = vote([cand(A), cand(B), cand(B), cand(C), cand(B), cand(A)], n=3)
    assert [(v.grid, v.count) for v in votes] == [(B, 3), (A, 2), (C, 1)]


def test_one_verified_vote_outranks_any_number_of_unverified_votes():
    votes = vote([cand(A)] * 5 + [cand(B, verified=True, conf=1.0, rail="beam", program="flip_lr", source="rails")])
    assert votes[0].grid == B and votes[0].verified == 1 and (votes[0].rail, votes[0].program) == ("beam", "flip_lr")
    assert votes[1].grid == A and votes[1].count == 5


def test_equal_counts_are_ranked_by_mean_confidence_then_by_the_earliest_candidate():
    votes = vote([cand(A, conf=0.2), cand(B, conf=0.9), cand(A, conf=0.4), cand(B, conf=0.1)])
    assert [v.grid for v in votes] == [B, A]                         # 0.5 mean beats 0.3
    assert votes[0].confidence == pytest.approx(0.5) and votes[1].confidence == pytest.approx(0.3)
    tied = vote([cand(C, conf=0.5), cand(A, conf=0.5), cand(B, conf=0.5)], n=3)
    assert [v.grid for v in tied] == [C, A, B]                       # all equal: first seen first


def test_a_grid_reports_the_rail_of_its_first_verified_candidate_and_every_source():
    votes = vote([cand(A, source="network"), cand(A, verified=True, conf=1.0, rail="policy", program="p1",
                                                 source="rails"),
                  cand(A, verified=True, conf=1.0, rail="beam", program="p2", source="rails"), cand(A, source="ttt")])
    (v,) = votes
    assert (v.rail, v.program, v.source, v.verified, v.count) == ("policy", "p1", "rails", 2, 4)
    assert v.sources == ["network", "rails", "ttt"]


def test_two_attempts_repeat_a_lone_grid_and_are_empty_without_candidates():
    assert two_attempts(vote([cand(A), cand(B)])) == [A, B]
    assert two_attempts(vote([cand(A), cand(A)])) == [A, A]
    assert two_attempts(vote([])) == []


class EchoForward:
    """A stand-in evaluation forward: attempt 1 is the (augmented) test input itself, attempt 2 its colours + 1.
    Inverting each pass's augmentation must give back the original test input (and its recoloured copy)."""

    def __call__(self, inputs, rails=True):
        from types import SimpleNamespace

        x, size = inputs["test_in"], inputs["test_in_size"]
        second = torch.where(x < 10, (x + 1) % 10, x)
        b = x.shape[0]
        logits = torch.zeros(b, 30, 30, 10)
        return SimpleNamespace(attempts=torch.stack([x, second], 1), logits=logits,
                               extras={"attempt_size": torch.stack([size, size], 1), "painter_size": size})


@pytest.mark.parametrize("k", range(8), ids=DIHEDRAL)
def test_each_voting_augmentation_is_inverted_before_counting(k):
    grids = [[[1, 2, 3], [4, 5, 6]], [[7, 0], [0, 8], [9, 9]]]
    cells, size = pad_grids(grids)
    inputs = {"test_in": cells, "test_in_size": size, "demo_in": cells[:, None], "demo_in_size": size[:, None],
              "demo_out": cells[:, None], "demo_out_size": size[:, None],
              "demo_mask": torch.ones(2, 1, dtype=torch.bool)}
    ks, perms = voting_augmentations(8, permute_colours=True, seed=3)
    assert ks.tolist() == list(range(8)) and perms[0].tolist() == list(range(10))   # pass 0: identity
    assert len({tuple(p) for p in perms.tolist()}) == 8 and all(p[0] == 0 for p in perms.tolist())
    # the augmentation really changes the grid the forward sees (except the identity pass)
    seen, _ = augment(cells, size, ks[k].expand(2), perms[k].expand(2, -1))
    if k:
        assert not torch.equal(seen, cells)
    cands = painter_candidates(EchoForward(), inputs, ks, perms, [k], "network")
    p, inv = perms[k].tolist(), perms[k].argsort().tolist()
    for grid, (first, second) in zip(grids, cands):
        assert first.grid == grid, DIHEDRAL[k]
        # the forward added 1 to the colours it saw (permuted ones): inverting maps them back through perm^-1
        assert second.grid == [[inv[(p[v] + 1) % 10] for v in row] for row in grid], DIHEDRAL[k]
