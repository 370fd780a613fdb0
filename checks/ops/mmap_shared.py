"""The mmap_shared operation: a shared mapping of a shmem object by a task (a scenario's setup step)."""

from dataclasses import dataclass

from .base import SETUP_RANK, Operation, operation
from .fields import Address


@operation
@dataclass(frozen=True)
class MmapShared(Operation):
    """mmap(MAP_SHARED|MAP_ANONYMOUS) of [start, start + length) making shmem object `obj`, or a mapping of the
    existing object from page offset pgoff (model/shmem.py; used in scenario setups)."""

    kind = "mmap_shared"
    rank = SETUP_RANK

    start: Address
    length: Address
    obj: int
    pgoff: int = 0
    task: int = 0

    def apply(self, m):
        return m.mmap_shared(self.start, self.length, self.obj, pgoff=self.pgoff, task=self.task)

    def code(self, m="m"):
        return f"{m}.mmap_shared({self.start:#x}, {self.length:#x}, {self.obj}, pgoff={self.pgoff}, task={self.task})"
