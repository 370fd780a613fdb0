"""Compare two machines attribute by attribute, recursively, except what their classes declare observations.

`attribute_differences(a, b)` walks both object graphs in step (instance attributes, in the order
they were first set; list, tuple and dict items; set contents) and returns the paths where they
differ, such as "m.node_data[0].node_zones[1].free_area[2].nr_free: 3 != 2". An attribute named
in its class's OBSERVATIONS is skipped; one named in its class's PARTLY_STATE {attribute: method}
is compared through that method, which returns the part of it that is state. Objects shared by
both graphs (the topology, the environment) are equal by identity; each pair of objects is
compared once, so shared references and cycles cost nothing.
"""

ATOMS = (int, float, str, bytes, bytearray, bool, type(None), frozenset, set, range, complex)


def observations(obj):
    return getattr(type(obj), "OBSERVATIONS", ())


def partly_state(obj):
    return getattr(type(obj), "PARTLY_STATE", {})


def instance_attributes(obj):
    """An object's attributes: its __dict__ in the order they were set, then its __slots__ that are set."""
    out = dict(getattr(obj, "__dict__", {}))
    for cls in type(obj).__mro__:
        for name in getattr(cls, "__slots__", ()):
            if name not in out and hasattr(obj, name):
                out[name] = getattr(obj, name)
    return out


def attribute_differences(a, b, root="m"):
    """Every path below `root` where a and b differ (empty: equal but for declared observations)."""
    out = []
    seen = set()
    _compare(a, b, root, out, seen)
    return out


def _compare(a, b, path, out, seen):
    if a is b:
        return
    if type(a) is not type(b):
        out.append(f"{path}: {type(a).__name__} {a!r} != {type(b).__name__} {b!r}")
        return
    if isinstance(a, ATOMS):
        if a != b:
            out.append(f"{path}: {a!r} != {b!r}")
        return
    pair = (id(a), id(b))
    if pair in seen:
        return
    seen.add(pair)
    if isinstance(a, list | tuple):
        if len(a) != len(b):
            out.append(f"{path}: {len(a)} items != {len(b)} items")
            return
        for i, (x, y) in enumerate(zip(a, b)):
            _compare(x, y, f"{path}[{i}]", out, seen)
        return
    if isinstance(a, dict):
        if a.keys() != b.keys():
            out.append(f"{path}: keys {sorted(a.keys() ^ b.keys(), key=repr)} in one only")
            return
        for key in a:
            _compare(a[key], b[key], f"{path}[{key!r}]", out, seen)
        return
    partly = partly_state(a)
    for name, method in partly.items():
        _compare(getattr(a, method)(), getattr(b, method)(), f"{path}.{name} (the part {method}() returns)", out, seen)
    skip = set(observations(a)) | set(partly)
    attrs_a = {k: v for k, v in instance_attributes(a).items() if k not in skip}
    attrs_b = {k: v for k, v in instance_attributes(b).items() if k not in skip}
    if not attrs_a and not attrs_b:  # nothing to walk (a function, a sentinel): equal as Python says
        if a != b:
            out.append(f"{path}: {a!r} != {b!r}")
        return
    for name in sorted(attrs_a.keys() ^ attrs_b.keys()):
        side = "the first" if name in attrs_a else "the second"
        out.append(f"{path}.{name}: set on {side} machine only")
    for name, value in attrs_a.items():
        if name in attrs_b:
            _compare(value, attrs_b[name], f"{path}.{name}", out, seen)
