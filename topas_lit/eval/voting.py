"""Voting across augmentations: count identical (de-augmented) grids, rank, and take the top two distinct."""
from __future__ import annotations

from dataclasses import dataclass

Grid = list[list[int]]


@dataclass
class Candidate:
    grid: Grid
    verified: bool      # produced by a program that reproduces every demo output
    confidence: float   # 1.0 for verified programs, the painter's mean cell probability otherwise
    rail: str
    program: str        # program text, or "painter"


@dataclass
class Vote:
    grid: Grid
    verified: int
    count: int
    confidence: float
    rail: str
    program: str


def _key(grid: Grid) -> tuple:
    return tuple(tuple(row) for row in grid)


def vote(candidates: list[Candidate], n: int = 2) -> list[Vote]:
    """Rank distinct grids by (verified votes, votes, mean confidence); earliest candidate breaks ties.

    Verified answers outrank painter answers: a program that fits every demo is stronger evidence than
    agreement among unverified guesses.
    """
    groups: dict[tuple, Vote] = {}
    order: dict[tuple, int] = {}
    for i, c in enumerate(candidates):
        k = _key(c.grid)
        if k not in groups:
            groups[k] = Vote(c.grid, 0, 0, 0.0, c.rail, c.program)
            order[k] = i
        g = groups[k]
        g.count += 1
        g.verified += int(c.verified)
        g.confidence += c.confidence
        if c.verified and g.verified == 1:   # report the rail/program of the first verified vote
            g.rail, g.program = c.rail, c.program
    for g in groups.values():
        g.confidence /= g.count
    ranked = sorted(groups, key=lambda k: (-groups[k].verified, -groups[k].count, -groups[k].confidence, order[k]))
    return [groups[k] for k in ranked[:n]]
