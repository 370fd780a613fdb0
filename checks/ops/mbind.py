"""The mbind operation: the system call, by a task, for part of its VMAs (MPOL_MF_MOVE* migrate its pages)."""

from dataclasses import dataclass

from .base import Operation, operation
from .code import mbind_flags_code, mode_code, nodes_code
from .fields import Address, MbindFlags, MempolicyMode
from .syscall import check_user_nodes


@operation
@dataclass(frozen=True)
class Mbind(Operation):
    """mbind(start, length, mode | mode flags, nodes, flags) by a task: a policy for part of its VMAs; the task holds
    CAP_SYS_NICE (needed for MPOL_MF_MOVE_ALL) if cap_sys_nice."""

    kind = "mbind"
    rank = 9
    returns_errno = True
    sets_policy = True
    quiet_fields = frozenset({"cap_sys_nice"})  # newer than the traces written before it

    start: Address
    length: Address
    mode: MempolicyMode
    nodes: frozenset | None = None
    flags: MbindFlags = 0  # MPOL_MF_*
    task: int = 0
    maxnode: int | None = None
    cap_sys_nice: bool = False

    def simplicity(self):
        nodes = sorted(self.nodes or ())
        return (len(nodes), nodes)

    def validate(self, m, where):
        check_user_nodes(self.nodes, where)

    def apply(self, m):
        return m.mbind(self.start, self.length, self.mode, None if self.nodes is None else set(self.nodes),
                       maxnode=self.maxnode, flags=self.flags, task=self.task, cap_sys_nice=self.cap_sys_nice)

    def code(self, m="m"):
        extra = f", flags={mbind_flags_code(self.flags)}" if self.flags else ""
        extra += "" if self.maxnode is None else f", maxnode={self.maxnode}"
        extra += ", cap_sys_nice=True" if self.cap_sys_nice else ""
        return (f"{m}.mbind({self.start:#x}, {self.length:#x}, {mode_code(self.mode)}, "
                f"{nodes_code(self.nodes)}{extra}, task={self.task})")
