"""64-bit fingerprints of frozen states: what the visited set stores instead of the states.

A fingerprint is the first 8 bytes of BLAKE2b over a canonical encoding of the state, so it is the
same in every process, on every machine and in every run (a search split over machines can merge
its sets), unlike Python's hash(), which differs between processes for str and, in 3.11, for None.
The encoding is compact JSON, written by the standard library's C encoder: tuples (named tuples
included) as arrays, numbers, strings, true/false/null. Values JSON has no form for are reduced by
`_plain`: a frozenset to the sorted encodings of its elements, a frozen dataclass (a policy, a VMA)
to its class and fields, each as a JSON object, which no frozen state holds otherwise. Equal states
have equal encodings; distinct states distinct ones (1 and True differ, as they would in marshal).

Distinct states share a fingerprint with probability 2^-64 per pair: among n states, at most
n(n-1)/2 / 2^64 (TLC's estimate n^2 / 2^65), the chance that a collision hid a state. `Explorer.exact()`
stores whole states instead and rules collisions out.
"""

import dataclasses
import json
from hashlib import blake2b


def _plain(value):
    """What JSON cannot write, as a JSON object that nothing else in a frozen state looks like."""
    if isinstance(value, frozenset | set):
        return {"set": sorted(_ENCODER.encode(v) for v in value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        kind = type(value)
        return {"class": f"{kind.__module__}.{kind.__qualname__}",
                "fields": [getattr(value, f.name) for f in dataclasses.fields(value)]}
    raise TypeError(f"cannot fingerprint a frozen state holding {type(value).__name__} {value!r}; freeze() must "
                    "return tuples, numbers, strings, None, frozensets and frozen dataclasses (or search with "
                    "exact states)")


_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False, default=_plain)


def fingerprint(state):
    """A 64-bit fingerprint of a frozen state, never 0 (the visited set's empty slot)."""
    return int.from_bytes(blake2b(_ENCODER.encode(state).encode(), digest_size=8).digest(), "little") or 1


def collision_probability(n):
    """An upper bound on the chance that two of n distinct states got one fingerprint (n(n-1)/2^65)."""
    return min(1.0, n * (n - 1) / 2.0 ** 65)
