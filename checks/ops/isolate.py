"""The isolate operation: start_isolate_page_range() over whole pageblocks."""

from dataclasses import dataclass

from buddycheck.model.constants import MIGRATE_MOVABLE

from .base import Operation, operation
from .code import migratetype_code
from .fields import Migratetype


@operation
@dataclass(frozen=True)
class Isolate(Operation):
    """start_isolate_page_range() over whole pageblocks, as offlining (MOVABLE) or alloc_contig_range (CMA)."""

    kind = "isolate"
    rank = 4
    names_pfns = True
    quiet_fields = frozenset({"migratetype", "cpu"})

    start_pfn: int
    end_pfn: int
    migratetype: Migratetype = MIGRATE_MOVABLE
    cpu: int = 0  # the CPU it runs on (it matters to a concurrent pair: checks/ops/concurrent.py)

    def simplicity(self):
        return (self.start_pfn, self.end_pfn, self.migratetype)

    def apply(self, m):
        return m.isolate(self.start_pfn, self.end_pfn, cpu=self.cpu, migratetype=self.migratetype)

    def code(self, m="m"):
        extra = "" if self.migratetype == MIGRATE_MOVABLE else f", migratetype={migratetype_code(self.migratetype)}"
        extra += f", cpu={self.cpu}" if self.cpu else ""
        return f"{m}.isolate({self.start_pfn}, {self.end_pfn}{extra})"
