"""The alloc_vma operation: alloc_pages_vma() for an address of a task (THP or not)."""

from dataclasses import dataclass

from buddycheck.model.environment import IDLE, Environment

from .base import Operation, config_check, operation
from .code import gfp_code, run_with_env, with_env
from .fields import Address, GfpMask
from .request import request_simplicity


@operation
@dataclass(frozen=True)
class AllocVma(Operation):
    """alloc_pages_vma() for the VMA of a task that holds addr; hugepage=True is the THP path."""

    kind = "alloc_vma"
    rank = 8
    allocates = True
    policied = True
    quiet_fields = frozenset({"env"})

    gfp: GfpMask
    order: int
    addr: Address
    cpu: int = 0
    task: int = 0
    hugepage: bool = True
    env: Environment = IDLE

    def simplicity(self):
        return request_simplicity(self)

    def validate(self, m, where):
        vmas = m.tasks[self.task].vmas
        config_check(any(v.start <= self.addr < v.end for v in vmas), where, "addr", self.addr,
                     f"in no VMA of task {self.task} (map one with [[mmap]])")

    def apply(self, m):
        return run_with_env(m, self.env, lambda: m.alloc_vma(self.gfp, self.order, self.addr, cpu=self.cpu,
                                                             task=self.task, hugepage=self.hugepage))

    def code(self, m="m"):
        return with_env(f"{m}.alloc_vma({gfp_code(self.gfp)}, {self.order}, {self.addr:#x}, cpu={self.cpu}, "
                        f"task={self.task}, hugepage={self.hugepage})", self.env, m)
