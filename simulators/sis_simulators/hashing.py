"""Stateless 64-bit hashing so any record can be generated from (seed, collection, index) alone.

SplitMix64 is used because it is tiny, has good avalanche, and runs identically in plain Python
(for one record) and in NumPy uint64 arithmetic (for scanning millions of timestamps at once).
"""

import hashlib

import numpy as np

MASK64 = (1 << 64) - 1
GOLDEN_GAMMA = 0x9E3779B97F4A7C15
_MUL1 = 0xBF58476D1CE4E5B9
_MUL2 = 0x94D049BB133111EB


def stream_key(seed: int, stream: str) -> int:
    """A 64-bit key per (seed, stream) so collections never share random draws."""
    digest = hashlib.blake2b(f"{seed}:{stream}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def mix64(key: int, index: int) -> int:
    """The index-th SplitMix64 output of the stream `key`."""
    x = (key + index * GOLDEN_GAMMA) & MASK64
    x = ((x ^ (x >> 30)) * _MUL1) & MASK64
    x = ((x ^ (x >> 27)) * _MUL2) & MASK64
    return x ^ (x >> 31)


def mix64_array(key: int, start: int, stop: int) -> np.ndarray:
    """`mix64(key, i)` for every i in [start, stop), bit-for-bit equal, as uint64."""
    x = np.arange(start, stop, dtype=np.uint64) * np.uint64(GOLDEN_GAMMA) + np.uint64(key)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(_MUL1)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(_MUL2)
    return x ^ (x >> np.uint64(31))
