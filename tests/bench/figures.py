"""The machine-readable form of the figures benchmarks print, read by tools/bench_compare.py.

Next to its human-readable lines, a benchmark prints each figure once more on a line of its
own: `BENCH <name>=<value> unit=<unit> better=<higher|lower>`, where <name> is
"<measurement>.<figure>" and <unit> has no spaces.
"""

from __future__ import annotations


def figure(name: str, value: float, unit: str, *, better: str) -> None:
    """Print one BENCH line; `better` says which direction is an improvement."""
    if better not in ("higher", "lower") or " " in unit:
        raise ValueError(f"bad figure {name}: unit={unit!r} better={better!r}")
    print(f"BENCH {name}={value:.6g} unit={unit} better={better}")
