"""The get_mempolicy operation: the system call, by a task; it reads, except that MPOL_F_NODE|MPOL_F_ADDR faults
the page at addr in (lookup_node), as 4.19 does."""

from dataclasses import dataclass

from .base import Operation, operation
from .code import get_flags_code
from .fields import Address, GetMempolicyFlags


@operation
@dataclass(frozen=True)
class GetMempolicy(Operation):
    """get_mempolicy(&policy, nmask, maxnode, addr, flags) by a task (MPOL_F_NODE|MPOL_F_ADDR faults addr in)."""

    kind = "get_mempolicy"
    rank = 10
    returns_errno = True

    flags: GetMempolicyFlags = 0  # MPOL_F_NODE, MPOL_F_ADDR, MPOL_F_MEMS_ALLOWED
    addr: Address = 0
    task: int = 0
    maxnode: int | None = None

    def apply(self, m):
        return m.get_mempolicy(self.flags, self.addr, maxnode=self.maxnode, task=self.task)

    def code(self, m="m"):
        extra = "" if self.maxnode is None else f", maxnode={self.maxnode}"
        return f"{m}.get_mempolicy({get_flags_code(self.flags)}, {self.addr:#x}{extra}, task={self.task})"
