"""A scenario file's own invariants and goals: Python callables named by `module:NAME` or `file.py:NAME`.

A state invariant is `callable(view) -> iterable of messages` (view: spec/view.py's StateView of a
state); a step invariant is `callable(before_view, op, result, after_view) -> iterable of messages`,
judged on every transition. Both become properties of the explorer's protocol (checks/properties.py):
`name`, `per_state` and `violations(before, op, result, m, after=None)`. A goal is a Sometimes predicate
`callable(op, result, m) -> bool`.

An invariant read from a scenario file knows that file (`source`, an absolute path): a test written
from one of its counterexamples (checks/printing.py) loads it from there by name (`scenario_invariant`
of checks/scenario_file.py), so the test judges the very predicate that failed.
"""

import os

from buddycheck.model.errors import ConfigError

from .naming import resolve_reference
from .properties import BeforeState, ViewCache
from .scenario import Sometimes
from .trace_error import TraceError


class UserStateInvariant:
    """A user's state invariant, judged once on each distinct state (the initial one included)."""

    per_state = True

    def __init__(self, name, check, source=None):
        self.name = name
        self.check = check
        self.source = source  # the scenario file that declares it, if any
        self.views = ViewCache()

    def violations(self, before, op, result, m, after=None):
        return [str(message) for message in self.check(self.views.view(m, result, after))]


class UserStepInvariant:
    """A user's step invariant, judged on every transition with the views before and after it."""

    per_state = False

    def __init__(self, name, check, source=None):
        self.name = name
        self.check = check
        self.source = source  # the scenario file that declares it, if any
        self.before = BeforeState()

    def violations(self, before, op, result, m, after=None):
        if before is None:
            return []
        before_view = self.before.view(m, before)
        after_view = self.before.cache.view(m, result, after)
        return [str(message) for message in self.check(before_view, op, result, after_view)]


def resolve_callable(ref, where, base_dir=None):
    """The callable `ref` names; a relative file path is taken relative to base_dir (the scenario's folder)."""
    if not isinstance(ref, str):
        raise ConfigError(f"{where} = {ref!r}: expected a 'module:function' or 'file.py:function' string")
    path, sep, rest = ref.rpartition(":")
    if sep and path.endswith(".py") and base_dir is not None and not os.path.isabs(path):
        ref = os.path.join(base_dir, path) + ":" + rest
    try:
        obj = resolve_reference(ref)
    except TraceError as e:
        raise ConfigError(f"{where} = {ref!r}: {e}") from None
    except Exception as e:  # the file itself fails to load: a syntax error, a failing import
        raise ConfigError(f"{where} = {ref!r}: loading it raised {type(e).__name__}: {e}") from None
    if not callable(obj):
        raise ConfigError(f"{where} = {ref!r}: names {obj!r}, which is not callable")
    return obj


def user_goal(name, ref, where, base_dir=None):
    return Sometimes(name, resolve_callable(ref, where, base_dir))
