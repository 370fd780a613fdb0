"""What a caller can see of one operation's outcome, defined once: two models differ when these differ.

For an allocation the block or NULL, its node and its zone; for a page fault its return value and
the page then mapped at the address (its pfn, node and zone: the node of each faulted page); for a
system call, a cpuset write or an isolation the return value (0 or -errno) and what it reported
(get_mempolicy's policy and nodes, move_pages' status array); for a fork the child's id, its task
policy and the pages it shares copy-on-write; for every operation the events it caused (kind and
details). An operation a model refuses (ModelError: not enabled there) is observed as a refusal, any
other exception as a crash of that exception type, and an operation still running after its budget
(checks/watchdog.py) as a crash of type ModelHang.

Not observed: the reason text of a NULL allocation (the kernel returns only NULL), statistics, and
the state itself (two models may keep different bookkeeping; only what a caller can see counts).
"""

from dataclasses import dataclass, field

from buddycheck.model.errors import ModelError
from buddycheck.model.results import AllocResult, FaultResult, ForkResult, OpResult, SyscallResult


@dataclass(frozen=True)
class Observation:
    """What a caller can see of one operation's outcome; two outcomes differ when these differ.

    status: "ok", "refused" (the model raised ModelError: the operation is not enabled there) or
    "crash" (any other exception). block/node/zone: an allocation's pfn (None for NULL), node and
    zone index, or the page a fault left mapped at its address. ret: a fault's, a system call's, cpuset
    write's or isolation's return value, a fork's child id. reported: what get_mempolicy wrote (policy,
    nodes), a fork's (child policy, pfns shared copy-on-write), or move_pages' status array ("status",
    entries).
    events: (kind, details) of every event, in order.
    error: the exception class of a refused or crashed operation; `detail` (its message) is shown
    but not compared.
    """

    status: str
    block: int | None = None
    node: int | None = None
    zone: int | None = None
    ret: int | None = None
    reported: tuple | None = None
    events: tuple = ()
    error: str | None = None
    detail: str = field(default="", compare=False)


OBSERVED_FIELDS = ("status", "block", "node", "zone", "ret", "reported", "events", "error")


def observe(outcome):
    """The Observation of an operation's outcome: its result object, or the exception it raised."""
    if isinstance(outcome, ModelError):
        return Observation("refused", error=type(outcome).__name__, detail=str(outcome))
    if isinstance(outcome, BaseException):
        return Observation("crash", error=type(outcome).__name__, detail=str(outcome))
    events = tuple((e.kind, tuple(e.detail)) for e in getattr(outcome, "events", ()))
    if isinstance(outcome, AllocResult):
        return Observation("ok", block=outcome.page, node=outcome.nid, zone=outcome.zone_idx, events=events)
    if isinstance(outcome, FaultResult):
        return Observation("ok", block=outcome.pfn, node=outcome.nid, zone=outcome.zone_idx, ret=outcome.ret,
                           events=events)
    if isinstance(outcome, ForkResult):
        return Observation("ok", ret=outcome.ret, reported=(outcome.policy, outcome.shared), events=events)
    if isinstance(outcome, SyscallResult):
        nodes = None if outcome.nodes is None else tuple(sorted(outcome.nodes))
        reported = None if outcome.policy is None and nodes is None else (outcome.policy, nodes)
        if outcome.status is not None:  # move_pages' status array
            reported = ("status", outcome.status)
        return Observation("ok", ret=outcome.ret, reported=reported, events=events)
    if isinstance(outcome, OpResult):
        return Observation("ok", ret=outcome.value, events=events)
    return Observation("ok", reported=(str(outcome),), events=events)


def differing_fields(a, b):
    """The names of the observed fields in which two observations differ.

    When only one model refused the operation the answer is ["enabled"]; when the statuses differ
    otherwise (one crashed) it is ["status"]: the other fields of a refusal or crash mean nothing.
    """
    if a.status != b.status:
        return ["enabled"] if "refused" in (a.status, b.status) else ["status"]
    return [name for name in OBSERVED_FIELDS if getattr(a, name) != getattr(b, name)]


def outcome_text(outcome):
    """How an outcome prints: the result's own text, or the refusal or crash with its message."""
    if isinstance(outcome, ModelError):
        return f"refused: {type(outcome).__name__}: {outcome}"
    if isinstance(outcome, BaseException):
        return f"CRASH: {type(outcome).__name__}: {outcome}"
    return " ".join(str(outcome).split())
