"""The fault operation: a page fault by a task at a user address (maps a page through alloc_pages_vma)."""

from dataclasses import dataclass

from .base import Operation, operation
from .fields import Address


@operation
@dataclass(frozen=True)
class Fault(Operation):
    """A write (or read) page fault by a task on a CPU at addr: -EFAULT outside its VMAs, a no-op if mapped."""

    kind = "fault"
    rank = 8
    returns_errno = True

    addr: Address
    task: int = 0
    cpu: int = 0
    write: bool = True

    def simplicity(self):
        return (not self.write, self.addr)

    def apply(self, m):
        return m.fault(self.addr, task=self.task, cpu=self.cpu, write=self.write)

    def code(self, m="m"):
        extra = "" if self.write else ", write=False"
        return f"{m}.fault({self.addr:#x}, task={self.task}, cpu={self.cpu}{extra})"
