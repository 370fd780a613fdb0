"""The get_mempolicy operation: the system call, by a task; it reads and changes nothing."""

from dataclasses import dataclass

from buddycheck.model.errors import ConfigError
from buddycheck.model.mempolicy import MPOL_F_ADDR, MPOL_F_NODE

from .base import Operation, operation
from .code import get_flags_code
from .fields import Address, GetMempolicyFlags


@operation
@dataclass(frozen=True)
class GetMempolicy(Operation):
    """get_mempolicy(&policy, nmask, maxnode, addr, flags) by a task: reads, changes nothing."""

    kind = "get_mempolicy"
    rank = 10
    returns_errno = True

    flags: GetMempolicyFlags = 0  # MPOL_F_NODE, MPOL_F_ADDR, MPOL_F_MEMS_ALLOWED
    addr: Address = 0
    task: int = 0
    maxnode: int | None = None

    def validate(self, m, where):
        if self.flags & MPOL_F_NODE and self.flags & MPOL_F_ADDR:
            raise ConfigError(f"{where}: flags = {self.flags:#x}: MPOL_F_NODE|MPOL_F_ADDR asks the node of a mapped "
                              "page, which the model does not have (no page tables)")

    def apply(self, m):
        return m.get_mempolicy(self.flags, self.addr, maxnode=self.maxnode, task=self.task)

    def code(self, m="m"):
        extra = "" if self.maxnode is None else f", maxnode={self.maxnode}"
        return f"{m}.get_mempolicy({get_flags_code(self.flags)}, {self.addr:#x}{extra}, task={self.task})"
