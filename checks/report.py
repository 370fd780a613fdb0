"""What a search returns: the report, why the search stopped, and the error of a broken symmetry.

Both strategies (breadth-first exhaustion, checks/strategies/bfs.py; random-walk simulation,
checks/strategies/simulate.py) return a Report. `strategy` says which; a simulation's report is a
sample of walks (`walks`, `seed`) and is never `complete`. The report writes its own JSON
(`Report.to_json()`); the command line adds the rendered counterexamples and the coverage, which
need the scenario and the measure.
"""

import resource
from dataclasses import dataclass, field
from enum import StrEnum

from buddycheck.spec.violation import Violation  # noqa: F401  (this module's API: one Violation for spec/ and checks/)

CRASH = "model_crash"  # the pseudo-invariant of a model that raised an exception (the kernel would BUG())
HANG = "model_hang"  # the pseudo-invariant of an operation that did not finish (the kernel would hang)
MEMORY_MAP = "memory_map"  # the pseudo-invariant of a model that went outside the memory map (KASAN's report)
FAILURE_KINDS = (CRASH, HANG, MEMORY_MAP)  # the violations an exception makes, judged by no property
BREADTH_FIRST, SIMULATION = "breadth-first", "simulation"  # Report.strategy


class StopReason(StrEnum):
    """Why a search ended before exhausting its space or reaching its depth (the report's None).

    A StrEnum: each reason equals its string ("max_states" == StopReason.MAX_STATES) and is one in JSON.
    """

    VIOLATION = "violation"  # the first violation (or, with all_violations, a hang)
    MAX_STATES = "max_states"  # the state budget
    TIME = "time"  # the time limit
    INTERRUPT = "interrupt"  # Ctrl-C or SIGTERM
    WALKS = "walks"  # a simulation: every walk done


# what a search that made no transition says of itself
IDLE_TEXT = ("no operation ran in any state reached (0 transitions): each was refused before doing anything, "
             "so nothing was checked")


@dataclass
class Report:
    """What a search found and how far it went."""

    scenario: str
    model: str
    reachable_states: int = 0
    transitions: int = 0
    depth: int = 0
    complete: bool = False
    stopped_by: StopReason | None = None  # None: exhausted, or every sequence reached the depth asked for
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
    symmetry: bool = False  # whether the visited set held one state per orbit
    symmetry_broken: str | None = None  # why the audit refused the reduction "auto" asked for (then off)
    workers: int = 1  # the processes a large level was expanded in
    exact: bool = False  # whether the visited set held whole states (no fingerprint collision possible)
    collision_probability: float = 0.0  # that two distinct states shared a fingerprint, hiding one
    bytes_per_state: float | None = None  # the visited set and parent map per stored state (fingerprints only)
    # concurrent pairs (model/interleaving.py): the most preemptions of a schedule (None: the scenario has no
    # pairs), and the transitions that ran a pair under one schedule
    preemption_bound: int | None = None
    interleavings: int = 0

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

    @property
    def idle(self):
        """No operation ran in any state reached (each was refused before changing anything): nothing was checked."""
        return self.transitions == 0 and not self.violations

    def to_json(self, violations=None, coverage=None):
        """The report as a JSON-ready dict; `violations` the rendered counterexamples, `coverage` its summary."""
        return {
            "scenario": self.scenario, "model": self.model, "reachable_states": self.reachable_states,
            "transitions": self.transitions, "depth": self.depth, "complete": self.complete,
            "stopped_by": None if self.stopped_by is None else str(self.stopped_by),
            "seconds": round(self.seconds, 3), "states_per_second": round(self.states_per_second, 1),
            "peak_memory_mb": round(self.peak_memory_mb, 1), "sometimes": self.sometimes,
            "reductions": list(self.reductions), "symmetry_audits": self.audited,
            "symmetry": self.symmetry, "symmetry_broken": self.symmetry_broken, "workers": self.workers,
            "exact": self.exact, "fingerprint_collision_probability": self.collision_probability,
            "bytes_per_state": None if self.bytes_per_state is None else round(self.bytes_per_state, 1),
            "notes": list(self.notes),
            **({} if self.preemption_bound is None else
               {"preemption_bound": self.preemption_bound, "interleavings": self.interleavings}),
            "violations": [] if violations is None else violations,
            "coverage": coverage,
        }


class SymmetryBroken(Exception):
    """The model treated two exchangeable units differently: quotienting by them would be unsound."""


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
