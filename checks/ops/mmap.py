"""The mmap operation: an anonymous mapping of a task (a scenario's setup step)."""

from dataclasses import dataclass

from .base import SETUP_RANK, Operation, operation
from .fields import Address


@operation
@dataclass(frozen=True)
class Mmap(Operation):
    """mmap() of an anonymous mapping [start, start + length) by a task (used in scenario setups)."""

    kind = "mmap"
    rank = SETUP_RANK

    start: Address
    length: Address
    task: int = 0

    def apply(self, m):
        return m.mmap(self.start, self.length, task=self.task)

    def code(self, m="m"):
        return f"{m}.mmap({self.start:#x}, {self.length:#x}, task={self.task})"
