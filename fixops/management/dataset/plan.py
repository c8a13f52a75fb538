"""The plan the generator fills in: the shared context (random source, clock, id counters,
table files), a tenant's people, and each scan stream's schedule and tallies."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime

from fixops.management.dataset import vocabulary as v
from fixops.management.dataset.text import TableFile


@dataclass
class Context:
    """What every tenant's generation shares: the random source, the clock, the id counters
    (ranges reserved by the caller) and the table files."""

    rng: random.Random
    now: datetime
    days: int
    decision_days: int
    files: dict[str, TableFile]
    next_ids: dict[str, int]
    catalogue: list[v.Vulnerability]
    policy_version_id: int

    def take_id(self, table: str) -> int:
        value = self.next_ids[table]
        self.next_ids[table] = value + 1
        return value


@dataclass
class People:
    """A tenant's users ((id, username) pairs), approvers among them, teams and integration."""

    users: list[tuple[int, str]]
    approvers: list[tuple[int, str]]
    teams: list[int]
    integration_id: int | None
    integration_key: str = "SEC"


@dataclass
class StreamPlan:
    """One scan stream (tool, branch, target): its scans and what each opened and closed."""

    tool: v.Tool
    branch: str
    target: str
    scan_ids: list[int] = field(default_factory=list)
    times: list[datetime] = field(default_factory=list)
    new: list[int] = field(default_factory=list)  # findings first seen per scan
    closed: list[int] = field(default_factory=list)  # findings closed per scan
    opened_ids: list[list[int]] = field(default_factory=list)
    closed_ids: list[list[int]] = field(default_factory=list)


def accumulate(values):
    total = 0.0
    for value in values:
        total += value
        yield total


def spread(total: int, parts: int, rng: random.Random, skew: float = 0.8) -> list[int]:
    """`total` split over `parts` by a Zipf-like law (a few large, many small), summing exactly."""
    if parts <= 0:
        return []
    weights = [1 / math.pow(i + 1, skew) for i in range(parts)]
    rng.shuffle(weights)
    scale = total / sum(weights)
    shares = [int(w * scale) for w in weights]
    for i in range(total - sum(shares)):
        shares[i % parts] += 1
    return shares
