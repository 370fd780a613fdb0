"""One failure of one invariant: the type spec/ returns and the explorer reports.

spec/'s checks fill `values` (the quantities that broke the rule); the explorer (checks/) fills
`trace` (the operations from the initial state that reach the failure) and, for a model that
crashed or hung, `failure` (checks.failure.Failure: the exception type, the function, file:line).
Two violations are equal when they name the same invariant, message and trace.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Violation:
    """An invariant that failed, its message, and (once found by a search) the operations that reach it."""

    invariant: str
    message: str
    trace: tuple = ()
    values: dict = field(default_factory=dict, compare=False, hash=False, repr=False)
    failure: object = field(default=None, compare=False, hash=False, repr=False)

    @property
    def length(self):
        return len(self.trace)

    def __str__(self):
        return f"{self.invariant}: {self.message}"
