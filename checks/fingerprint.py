"""64-bit fingerprints of frozen states: what the visited set stores instead of the states.

A fingerprint is the first 8 bytes of BLAKE2b over a canonical encoding of the state, so it is the
same in every process, on every machine and in every run (a search split over machines can merge
its sets), unlike Python's hash(), which differs between processes for str and, in 3.11, for None.
The encoding is marshal's version 2 format, which writes values only (no back-references, which
would depend on object identity); a state holding other values (frozen dataclasses, named tuples,
frozensets) is encoded part by part, each value reduced to plain tuples, a frozenset to its
encoded elements in sorted order, so equal states always have equal encodings.

Distinct states share a fingerprint with probability 2^-64 per pair: among n states, at most
n(n-1)/2 / 2^64 (TLC's estimate n^2 / 2^65), the chance that a collision hid a state. `Explorer.exact()`
stores whole states instead and rules collisions out.
"""

import dataclasses
import marshal
from hashlib import blake2b

_TUPLE, _OBJECT, _SET, _INT, _STR, _DICT = b"\x01", b"\x02", b"\x03", b"\x04", b"\x05", b"\x06"  # no marshal type code
_cache = {}  # encodings of immutable objects (policies, VMAs): shared by many states
_CACHE_LIMIT = 4096


def fingerprint(state):
    """A 64-bit fingerprint of a frozen state, never 0 (the visited set's empty slot)."""
    try:
        data = marshal.dumps(state, 2)
    except ValueError:
        data = encode(state)
    return int.from_bytes(blake2b(data, digest_size=8).digest(), "little") or 1


def encode(value):
    """A canonical byte string of a value: equal values, equal strings; distinct values, distinct strings."""
    try:
        return marshal.dumps(value, 2)
    except ValueError:
        pass
    if isinstance(value, tuple):
        return _TUPLE + len(value).to_bytes(4, "little") + b"".join(map(encode, value))
    cached = _cache.get(value) if _hashable(value) else None
    if cached is not None:
        return cached
    if dataclasses.is_dataclass(value):
        kind = type(value)
        parts = [getattr(value, f.name) for f in dataclasses.fields(value)]
        out = _OBJECT + encode(f"{kind.__module__}.{kind.__qualname__}") + encode(tuple(parts))
    elif isinstance(value, frozenset | set):
        items = sorted(map(encode, value))
        out = _SET + len(items).to_bytes(4, "little") + b"".join(items)
    elif isinstance(value, bool | int):
        out = _INT + marshal.dumps(int(value), 2)
    elif isinstance(value, str):
        out = _STR + marshal.dumps(str(value), 2)
    elif isinstance(value, dict):
        items = sorted(encode((k, v)) for k, v in value.items())
        out = _DICT + len(items).to_bytes(4, "little") + b"".join(items)
    else:
        raise TypeError(f"cannot fingerprint a frozen state holding {type(value).__name__} {value!r}; "
                        "freeze() must return tuples, numbers, strings, None, frozensets and frozen dataclasses "
                        "(or search with exact states)")
    if _hashable(value):
        if len(_cache) >= _CACHE_LIMIT:
            _cache.clear()
        _cache[value] = out
    return out


def _hashable(value):
    try:
        hash(value)
    except TypeError:
        return False
    return True


def collision_probability(n):
    """An upper bound on the chance that two of n distinct states got one fingerprint (n(n-1)/2^65)."""
    return min(1.0, n * (n - 1) / 2.0 ** 65)
