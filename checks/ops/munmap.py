"""The munmap operation: the system call, by a task: its mappings in the range go and their pages are freed."""

from dataclasses import dataclass

from .base import Operation, operation
from .fields import Address


@operation
@dataclass(frozen=True)
class Munmap(Operation):
    """munmap(start, length) by a task: do_munmap() splits, removes and frees."""

    kind = "munmap"
    rank = 9
    returns_errno = True

    start: Address
    length: Address
    task: int = 0

    def simplicity(self):
        return (self.length, self.start)

    def apply(self, m):
        return m.munmap(self.start, self.length, task=self.task)

    def code(self, m="m"):
        return f"{m}.munmap({self.start:#x}, {self.length:#x}, task={self.task})"
