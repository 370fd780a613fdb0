"""What the machine's operations return: the result objects and the events an operation caused.

An allocation returns `AllocResult`, a free, drain, isolation or task set-up `OpResult`, a mempolicy
system call, munmap or cpuset write `SyscallResult`, a page fault `FaultResult`; each carries the
`Event`s the operation caused.
"""

from dataclasses import dataclass, field

from .constants import ZONE_NAMES
from .gfp import format_gfp
from .mempolicy_names import format_mode, format_ret


def once_each(texts):
    """Texts with a run of equal ones in a row as one, followed by its count ("pcp refill (x3)")."""
    runs = []
    for text in texts:
        if runs and runs[-1][0] == text:
            runs[-1][1] += 1
        else:
            runs.append([text, 1])
    return [text if n == 1 else f"{text} (x{n})" for text, n in runs]


def format_events(events):
    """Events joined by commas, an event repeated in a row printed once with its count."""
    return ", ".join(once_each(map(str, events)))


@dataclass(frozen=True)
class Event:
    """Something an operation caused besides its result: a warning, a kswapd wake, an OOM kill."""

    kind: str
    detail: tuple = ()

    def __str__(self):
        args = ", ".join(f"{k}={v}" for k, v in self.detail)
        return f"{self.kind}({args})"


@dataclass(frozen=True)
class AllocResult:
    """What an allocation returned: the block (pfn) or None with the reason, and its events."""

    page: int | None
    order: int
    gfp: int
    nid: int | None = None
    zone_idx: int | None = None
    reason: str | None = None
    events: tuple = field(default=())

    @property
    def ok(self):
        return self.page is not None

    @property
    def zone_name(self):
        return None if self.zone_idx is None else ZONE_NAMES[self.zone_idx]

    def __str__(self):
        head = f"alloc order {self.order} {format_gfp(self.gfp)}"
        if self.page is None:
            body = f"NULL ({self.reason})"
        else:
            body = f"pfn {self.page} (node {self.nid} {self.zone_name})"
        ev = "" if not self.events else " events: " + format_events(self.events)
        return f"{head} -> {body}{ev}"


@dataclass(frozen=True)
class OpResult:
    """What a free, drain or isolation returned, with its events."""

    what: str
    value: int = 0
    events: tuple = field(default=())

    def __str__(self):
        ev = "" if not self.events else " events: " + format_events(self.events)
        return f"{self.what}{ev}"


@dataclass(frozen=True)
class SyscallResult:
    """What a mempolicy system call (or a cpuset write) returned: 0 or -errno, and what it reported."""

    what: str
    ret: int
    policy: int | None = None  # get_mempolicy: the int written to *policy
    nodes: frozenset | None = None  # get_mempolicy: the node mask written to *nmask
    events: tuple = field(default=())
    policy_is_node: bool = field(default=False, compare=False)  # MPOL_F_NODE: *policy holds a node id
    status: tuple | None = None  # move_pages: the status array (a node, -errno, or None: not written)

    @property
    def ok(self):
        return self.ret == 0

    def __str__(self):
        out = f"{self.what} = {format_ret(self.ret)}"
        if self.policy is not None:
            out += f" node {self.policy}" if self.policy_is_node else f" policy {format_mode(self.policy)}"
        if self.nodes is not None:
            out += " nodes {" + ",".join(map(str, sorted(self.nodes))) + "}"
        if self.status is not None:
            out += " status [" + ", ".join("-" if v is None else format_ret(v) for v in self.status) + "]"
        if self.events:
            out += " events: " + format_events(self.events)
        return out


@dataclass(frozen=True)
class FaultResult:
    """What a page fault did: 0 or -errno (-EFAULT: SIGSEGV, -ENOMEM: VM_FAULT_OOM) and the page then mapped.

    pfn is the page mapped at the address after the fault (ZERO_PFN, -1, for the zero page; None when
    nothing is), order its entry's order, nid and zone_idx where that page lies. (Not `page`: a fault is
    not an allocation, and the goals that look for a result's page are about allocations.)
    """

    what: str
    ret: int
    pfn: int | None = None
    order: int = 0
    nid: int | None = None
    zone_idx: int | None = None
    events: tuple = field(default=())

    @property
    def ok(self):
        return self.ret == 0

    def __str__(self):
        out = f"{self.what} = {format_ret(self.ret)}"
        if self.pfn is not None:
            page = "zero page" if self.pfn < 0 else f"pfn {self.pfn}"
            zone = "" if self.zone_idx is None else f" {ZONE_NAMES[self.zone_idx]}"
            out += f" -> {page} order {self.order} (node {self.nid}{zone})"
        if self.events:
            out += " events: " + format_events(self.events)
        return out


@dataclass(frozen=True)
class ForkResult:
    """What fork() returned to the parent: the child's id (or -errno), and what the child started with.

    policy: the child's task policy as mpol_to_str() prints it ("default" for none); shared: the
    pfns the child maps copy-on-write, shared with the parent.
    """

    what: str
    ret: int
    policy: str = "default"
    shared: tuple = ()
    events: tuple = field(default=())

    @property
    def ok(self):
        return self.ret >= 0

    def __str__(self):
        out = f"{self.what} = {format_ret(self.ret)}"
        if self.ok:
            out += f" child policy {self.policy}, {len(self.shared)} pages shared copy-on-write"
        if self.events:
            out += " events: " + format_events(self.events)
        return out
