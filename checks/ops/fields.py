"""How an operation's fields are described: each field's annotation says what kind of value it holds.

The JSON codec (checks/trace_json.py) and the printer of operation values (checks/trace_naming.py)
read these descriptions, so a new operation needs no codec of its own:

- `GfpMask`: a gfp mask (JSON: its name, e.g. "GFP_KERNEL|__GFP_NOWARN"; code: over `G`);
- `MempolicyMode`, `MbindFlags`, `GetMempolicyFlags`, `Migratetype`: an integer the kernel names (JSON: the
  integer; code: its names over `P` or `C`, checks/ops/code.py);
- `Address`: a user address (JSON: the integer; code: hex);
- `Environment`: the environment's answers (JSON: the answers that differ from IDLE);
- `frozenset`: a set of node ids (JSON: a sorted list);
- `str`: a string (JSON: the string);
- `SysctlValue`: what a sysctl write stores: an integer, a string, or a tuple of integers (JSON: a list);
- `bool`: true or false;
- `Operation` (checks/ops/base.py): another operation (JSON: its object, with its "kind");
- `Schedule`: a concurrent pair's picks (JSON: a list of 0s and 1s; model/interleaving.py);
- `Words`: a user array of integers in order, such as move_pages' addresses (JSON: a list of integers);
- anything else: an integer.

`X | None` makes the field optional: null is accepted for it.
"""

import types
import typing
from dataclasses import dataclass
from typing import Annotated

from buddycheck.model.environment import Environment

from .base import Operation

GfpMask = Annotated[int, "gfp mask"]
# integers printed by their names (or as hex): the JSON codec reads and writes them as integers
MEMPOLICY_MODE, MBIND_FLAGS, GET_FLAGS, MIGRATETYPE, ADDRESS = (
    "mempolicy mode", "mbind flags", "get_mempolicy flags", "migratetype", "address")
MempolicyMode = Annotated[int, MEMPOLICY_MODE]
MbindFlags = Annotated[int, MBIND_FLAGS]
GetMempolicyFlags = Annotated[int, GET_FLAGS]
Migratetype = Annotated[int, MIGRATETYPE]
Address = Annotated[int, ADDRESS]
SYSCTL_VALUE = "sysctl value"
SysctlValue = Annotated[object, SYSCTL_VALUE]

Schedule = Annotated[tuple, "schedule"]
Words = Annotated[tuple, "words"]  # a user array of integers, in order (move_pages' pages and nodes)

GFP, ENV, NODES, BOOL, INT, OP, SCHEDULE, STR = "gfp", "env", "nodes", "bool", "int", "operation", "schedule", "str"
WORDS = "words"


@dataclass(frozen=True)
class FieldKind:
    """The kind of value a field holds and whether null is accepted for it; `named`: how an integer prints."""

    kind: str
    optional: bool
    named: str | None = None  # MEMPOLICY_MODE, ..., ADDRESS for an integer printed by its names


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
    if annotation is Operation:
        return FieldKind(OP, optional)
    if annotation == Schedule:
        return FieldKind(SCHEDULE, optional)
    if annotation == Words:
        return FieldKind(WORDS, optional)
    if annotation is str:
        return FieldKind(STR, optional)
    if annotation == SysctlValue:
        return FieldKind(SYSCTL_VALUE, optional)
    if typing.get_origin(annotation) is Annotated:
        return FieldKind(INT, optional, typing.get_args(annotation)[1])
    return FieldKind(INT, optional)
