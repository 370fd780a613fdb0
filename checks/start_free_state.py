"""The setup step that starts a scenario from a real machine's free state (model/procfs_free_state.py).

Not an operation of the alphabet (it is never offered during the search, so it has no JSON kind): a
scenario's setup runs it once on the booted machine, and a printed program replays it as the call of
Kernel419.start_free_state it prints.
"""

from dataclasses import dataclass

from .ops import SETUP_RANK


@dataclass(frozen=True)
class StartFreeState:
    """Move the booted machine to the layout's free state; the layout's blocks as plain tuples."""

    free: tuple  # (pfn, order, migratetype)
    allocated: tuple  # (pfn, order, migratetype)
    pageblocks: tuple  # (pfn, migratetype)

    rank = SETUP_RANK
    allocates = False
    names_pfns = True

    @classmethod
    def of(cls, layout):
        return cls(layout.free(), layout.allocated(), layout.pageblocks())

    def apply(self, m):
        return m.start_free_state(self.free, self.allocated, self.pageblocks)

    def code(self, m="m"):
        return f"{m}.start_free_state({self.free!r}, {self.allocated!r}, {self.pageblocks!r})"
