"""The alloc_pages operation: alloc_pages_current() for a task, under its mempolicy."""

from dataclasses import dataclass

from buddycheck.model.environment import IDLE, Environment

from .base import Operation, operation
from .code import gfp_code, run_with_env, with_env
from .fields import GfpMask
from .request import request_simplicity


@operation
@dataclass(frozen=True)
class AllocPages(Operation):
    """alloc_pages() (alloc_pages_current) for a task on a CPU: its mempolicy applies."""

    kind = "alloc_pages"
    rank = 1
    allocates = True
    step_judged = True
    policied = True
    moves_interleave_cursor = True
    quiet_fields = frozenset({"env"})

    gfp: GfpMask
    order: int
    cpu: int = 0
    task: int = 0
    in_interrupt: bool = False
    env: Environment = IDLE

    def simplicity(self):
        return request_simplicity(self)

    def apply(self, m):
        return run_with_env(m, self.env, lambda: m.alloc_pages(self.gfp, self.order, cpu=self.cpu, task=self.task,
                                                               in_interrupt=self.in_interrupt))

    def code(self, m="m"):
        extra = ", in_interrupt=True" if self.in_interrupt else ""
        return with_env(f"{m}.alloc_pages({gfp_code(self.gfp)}, {self.order}, cpu={self.cpu}, task={self.task}{extra})",
                        self.env, m)
