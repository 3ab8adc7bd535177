"""Voting across candidates: count identical (de-augmented) grids, rank, and take the top two distinct."""
from __future__ import annotations

from dataclasses import dataclass, field

Grid = list[list[int]]


@dataclass
class Candidate:
    """One proposed answer grid for one test input (see INTERFACES: the evaluator's contract)."""

    grid: Grid
    verified: bool      # produced by a program that reproduces every demo output
    confidence: float   # 1.0 for verified programs; the network's likelihood-based score otherwise (higher better)
    rail: str           # the rail that produced it, or "painter" for the network
    program: str        # program text, or "painter"
    source: str = ""    # the name of the candidate source that made it
    energy: float | None = None   # the sequence solver's EBR energy of this grid, where it scored one


@dataclass
class Vote:
    grid: Grid
    verified: int                 # verified candidates for this grid
    count: int                    # all candidates for this grid
    confidence: float             # their mean confidence
    rail: str                     # rail/program/source of the first verified candidate, else of the first
    program: str
    source: str
    sources: list[str] = field(default_factory=list)   # every source that proposed this grid, first seen first


def _key(grid: Grid) -> tuple:
    return tuple(tuple(row) for row in grid)


def vote(candidates: list[Candidate], n: int = 2) -> list[Vote]:
    """Rank distinct grids by (verified votes, votes, mean confidence); the earliest candidate breaks ties.

    Verified answers outrank unverified ones: a program that fits every demo is stronger evidence than
    agreement among unverified guesses.
    """
    groups: dict[tuple, Vote] = {}
    order: dict[tuple, int] = {}
    for i, c in enumerate(candidates):
        k = _key(c.grid)
        if k not in groups:
            groups[k] = Vote(c.grid, 0, 0, 0.0, c.rail, c.program, c.source)
            order[k] = i
        g = groups[k]
        g.count += 1
        g.verified += int(c.verified)
        g.confidence += c.confidence
        if c.source not in g.sources:
            g.sources.append(c.source)
        if c.verified and g.verified == 1:   # report the rail/program of the first verified vote
            g.rail, g.program, g.source = c.rail, c.program, c.source
    for g in groups.values():
        g.confidence /= g.count
    ranked = sorted(groups, key=lambda k: (-groups[k].verified, -groups[k].count, -groups[k].confidence, order[k]))
    return [groups[k] for k in ranked[:n]]


def two_attempts(votes: list[Vote]) -> list[Grid]:
    """The two attempts of a test input from its ranked votes: the top two, the first repeated when only one
    grid was proposed, none when nothing was."""
    grids = [v.grid for v in votes[:2]]
    return grids + grids[:1] * (2 - len(grids)) if grids else []
