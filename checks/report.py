"""What a search returns: the report, its violations, and the error of a broken symmetry.

Both strategies (breadth-first exhaustion, checks/explore.py; random-walk simulation,
checks/strategies/simulate.py) return a Report. `strategy` says which; a simulation's report is a
sample of walks (`walks`, `seed`) and is never `complete`.
"""

import resource
from dataclasses import dataclass, field

CRASH = "model_crash"  # the pseudo-invariant of a model that raised an exception (the kernel would BUG())
HANG = "model_hang"  # the pseudo-invariant of an operation that did not finish (the kernel would hang)
MEMORY_MAP = "memory_map"  # the pseudo-invariant of a model that went outside the memory map (KASAN's report)
FAILURE_KINDS = (CRASH, HANG, MEMORY_MAP)  # the violations an exception makes, judged by no property
BREADTH_FIRST, SIMULATION = "breadth-first", "simulation"  # Report.strategy


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
    """What a search found and how far it went."""

    scenario: str
    model: str
    reachable_states: int = 0
    transitions: int = 0
    depth: int = 0
    complete: bool = False
    # "max_states", "interrupt", "violation", "time", or None; a simulation also "walks" (all walks done)
    stopped_by: str | None = None
    seconds: float = 0.0
    peak_memory_mb: float = 0.0
    violations: list = field(default_factory=list)
    sometimes: dict = field(default_factory=dict)
    reductions: tuple = ()  # how the state space was quotiented (symmetry), in words
    audited: int = 0  # transitions re-run on relabelled units to check the symmetry
    strategy: str = BREADTH_FIRST
    # a simulation: the seed its walks are drawn from, and the walks done (transitions are their steps)
    seed: int | None = None
    walks: int = 0
    notes: list = field(default_factory=list)  # what the reader must know besides the numbers (a trace left unshrunk)

    @property
    def sample(self):
        """A simulation samples sequences: what it did not walk is unchecked, whatever it found."""
        return self.strategy == SIMULATION

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
