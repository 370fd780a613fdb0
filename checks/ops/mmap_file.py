"""The mmap_file operation: a private or shared mapping of a named file by a task (a scenario's setup step)."""

from dataclasses import dataclass

from .base import SETUP_RANK, Operation, operation
from .fields import Address


@operation
@dataclass(frozen=True)
class MmapFile(Operation):
    """mmap() of [start, start + length) of file `file` (an inode number) from page offset pgoff, MAP_PRIVATE or
    with shared MAP_SHARED (model/filemap.py; used in scenario setups)."""

    kind = "mmap_file"
    rank = SETUP_RANK

    start: Address
    length: Address
    file: int
    pgoff: int = 0
    shared: bool = False
    task: int = 0

    def apply(self, m):
        return m.mmap_file(self.start, self.length, self.file, pgoff=self.pgoff, shared=self.shared, task=self.task)

    def code(self, m="m"):
        shared = ", shared=True" if self.shared else ""
        return (f"{m}.mmap_file({self.start:#x}, {self.length:#x}, {self.file}, pgoff={self.pgoff}{shared}, "
                f"task={self.task})")
