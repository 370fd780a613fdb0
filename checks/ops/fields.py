"""How an operation's fields are described: each field's annotation says what kind of value it holds.

The JSON codec (checks/trace_json.py) and the printer of operation values (checks/trace_naming.py)
read these descriptions, so a new operation needs no codec of its own:

- `GfpMask`: a gfp mask (JSON: its name, e.g. "GFP_KERNEL|__GFP_NOWARN"; code: over `G`);
- `Environment`: the environment's answers (JSON: the answers that differ from IDLE);
- `frozenset`: a set of node ids (JSON: a sorted list);
- `bool`: true or false;
- anything else: an integer.

`X | None` makes the field optional: null is accepted for it.
"""

import types
import typing
from dataclasses import dataclass
from typing import Annotated

from buddycheck.model.environment import Environment

GfpMask = Annotated[int, "gfp mask"]

GFP, ENV, NODES, BOOL, INT = "gfp", "env", "nodes", "bool", "int"


@dataclass(frozen=True)
class FieldKind:
    """The kind of value a field holds and whether null is accepted for it."""

    kind: str
    optional: bool


def field_kind(f):
    """The FieldKind a dataclass field's annotation describes."""
    annotation = f.type
    optional = False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        annotation = args[0] if len(args) == 1 else annotation
    if annotation == GfpMask:
        return FieldKind(GFP, optional)
    if annotation is Environment:
        return FieldKind(ENV, optional)
    if annotation is frozenset:
        return FieldKind(NODES, optional)
    if annotation is bool:
        return FieldKind(BOOL, optional)
    return FieldKind(INT, optional)
