"""What an exploration returns: the report, its violations, and the error of a broken symmetry."""

import resource
from dataclasses import dataclass, field

CRASH = "model_crash"  # the pseudo-invariant of a model that raised an exception (the kernel would BUG())
HANG = "model_hang"  # the pseudo-invariant of an operation that did not finish (the kernel would hang)
MEMORY_MAP = "memory_map"  # the pseudo-invariant of a model that went outside the memory map (KASAN's report)
FAILURE_KINDS = (CRASH, HANG, MEMORY_MAP)  # the violations an exception makes, judged by no property


@dataclass(frozen=True)
class Violation:
    """An invariant that failed, its message, and the operations from the initial state that reach it."""

    invariant: str
    message: str
    trace: tuple
    # for CRASH, HANG and MEMORY_MAP: the checks.failure.Failure (exception type, function, file:line)
    failure: object = field(default=None, compare=False, hash=False, repr=False)

    @property
    def length(self):
        return len(self.trace)


@dataclass
class Report:
    """What an exploration found and how far it went."""

    scenario: str
    model: str
    reachable_states: int = 0
    transitions: int = 0
    depth: int = 0
    complete: bool = False
    stopped_by: str | None = None  # "max_states", "interrupt", "violation", or None
    seconds: float = 0.0
    peak_memory_mb: float = 0.0
    violations: list = field(default_factory=list)
    sometimes: dict = field(default_factory=dict)
    reductions: tuple = ()  # how the state space was quotiented (symmetry), in words
    audited: int = 0  # transitions re-run on relabelled units to check the symmetry

    @property
    def states_per_second(self):
        return self.reachable_states / self.seconds if self.seconds > 0 else 0.0

    @property
    def ok(self):
        return not self.violations


class SymmetryBroken(Exception):
    """The model treated two exchangeable units differently: quotienting by them would be unsound."""


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
