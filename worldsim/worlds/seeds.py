"""World seed lists as people write them on a command line: '0-3,7,10-11'."""
from __future__ import annotations


def parse_seed_list(text: str) -> list[int]:
    """'0-3,7,10-11' -> [0, 1, 2, 3, 7, 10, 11], in order, without repeats. ValueError for anything
    else: an empty part, a range that runs backwards, a negative seed. Callers turn it into their
    own one-line error naming their option."""
    seeds: list[int] = []
    for part in text.split(","):
        lo, dash, hi = part.strip().partition("-")
        first = int(lo)                                   # int("") (e.g. "-5" or "") raises
        last = int(hi) if dash else first
        if first < 0 or last < first:
            raise ValueError(f"bad seed range {part.strip()!r}")
        seeds += range(first, last + 1)
    return list(dict.fromkeys(seeds))
