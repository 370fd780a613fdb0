"""What every operation declares about itself, and the registry of operation classes.

An operation is a frozen dataclass that subclasses `Operation`, sets the declarations below as
plain class attributes, and is registered with `@operation`. Everything that treats operations by
kind reads these declarations instead of listing classes:

- `kind`: its name in JSON counterexamples (checks/trace_json.py);
- `rank`: its place in the shrinker's order of kinds, smaller is simpler (checks/shrink.py);
- `simplicity()`: how simple it is among operations of its kind, after the arguments the shrinker
  compares for every kind (order, node id, cpu, environment); the shrinker's smaller variants of an
  operation are the offered operations of its kind with a smaller key;
- `names_pfns`: it names pfns, so exchanging MAX_ORDER units would change it (checks/scenario.py);
- `allocates`: it asks for pages (gfp, order): order and gfp are validated, goals count its pages;
- `step_judged`: spec/steps.py states its request, so step invariants and alloc_progress judge it;
- `policied`: its node and nodemask come from the calling task's mempolicy (alloc_pages_current);
- `moves_interleave_cursor`: it may move its own task's interleave cursor (il_prev);
- `returns_errno`: a system call or cpuset write, whose result's `ret` is 0 or -errno (checks/goals.py);
- `sets_policy`: on success it installs a mempolicy (checks/goals.py);
- `validate(m, where)`: its own checks against the booted machine (checks/scenario.py runs them);
- `interleaves`: it runs a concurrent pair under one schedule (checks/ops/concurrent.py): the search counts
  it as an interleaving, and the state invariants judge the states met at its preemptions;
- `quiet_fields`: fields written to JSON only when they differ from their default (fields newer
  than the format's first version, so older documents read as before);
- the annotations of its fields: how the codec and the printer read and write each field
  (checks/ops/fields.py).

The registry keeps the order of registration (checks/ops/__init__.py imports every operation module
in a fixed order), which is the order errors list the known kinds in.
"""

from dataclasses import is_dataclass
from typing import ClassVar

from buddycheck.model.errors import ConfigError

# kind -> operation class, in registration order
OPERATIONS = {}

# the rank of setup steps (tasks, mappings, limits): after every kind of the alphabet
SETUP_RANK = 12


class Operation:
    """The declarations every operation class sets (see the module docstring); the defaults are the plain ones."""

    kind: ClassVar[str] = ""
    rank: ClassVar[int] = 0
    names_pfns: ClassVar[bool] = False
    allocates: ClassVar[bool] = False
    step_judged: ClassVar[bool] = False
    policied: ClassVar[bool] = False
    moves_interleave_cursor: ClassVar[bool] = False
    returns_errno: ClassVar[bool] = False
    sets_policy: ClassVar[bool] = False
    interleaves: ClassVar[bool] = False
    quiet_fields: ClassVar[frozenset] = frozenset()

    def simplicity(self):
        """The shrinker's tie-break among operations of this kind with equal common arguments, smaller is simpler."""
        return (repr(self),)

    def creates_tasks(self):
        """The ids of the tasks this operation may create during the search (a fork's child): the scenario's
        other operations may name them although the booted machine does not have them yet."""
        return ()

    def validate(self, m, where):
        """ConfigError for what this operation could never run on the booted machine `m`, beyond the checks
        every operation gets (its cpu, its task, an allocation's order and gfp; checks/scenario.py)."""

    def apply(self, m):
        raise NotImplementedError

    def code(self, m="m"):
        raise NotImplementedError


def config_check(ok, where, key, value, why):
    """ConfigError naming where, the key and its value, and why, unless ok."""
    if not ok:
        raise ConfigError(f"{where}: {key} = {value!r}: {why}")


def operation(cls):
    """Register an operation class under its `kind` (a class decorator, applied after @dataclass)."""
    if not (isinstance(cls, type) and issubclass(cls, Operation) and is_dataclass(cls)):
        raise TypeError(f"{cls!r}: an operation is a dataclass subclass of Operation")
    if not cls.kind or not isinstance(cls.kind, str):
        raise TypeError(f"{cls.__name__}: an operation declares its JSON name as `kind`")
    if OPERATIONS.get(cls.kind, cls) is not cls:
        raise TypeError(f"{cls.__name__}: the kind {cls.kind!r} is already {OPERATIONS[cls.kind].__name__}'s")
    OPERATIONS[cls.kind] = cls
    return cls


def unregister(cls):
    """Remove a registered operation class (an operation defined for a while, e.g. by a test)."""
    if OPERATIONS.get(cls.kind) is cls:
        del OPERATIONS[cls.kind]


def is_operation(op):
    """Whether op is an instance of a registered operation class."""
    return OPERATIONS.get(getattr(type(op), "kind", None)) is type(op)
