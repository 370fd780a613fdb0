"""The free operation: __free_pages() of an allocated block."""

from dataclasses import dataclass

from .base import Operation, operation


@operation
@dataclass(frozen=True)
class Free(Operation):
    """__free_pages() of the allocated block at pfn, from a CPU."""

    kind = "free"
    rank = 2
    names_pfns = True

    pfn: int
    cpu: int = 0

    def simplicity(self):
        return (self.pfn,)

    def apply(self, m):
        return m.free(self.pfn, cpu=self.cpu)

    def relabel(self, f):
        """The same free of the block that a relabelling of pfns `f` moved."""
        return Free(f(self.pfn), self.cpu)

    def code(self, m="m"):
        return f"{m}.free({self.pfn}, cpu={self.cpu})"
