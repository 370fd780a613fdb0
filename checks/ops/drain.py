"""The drain operation: drain_all_pages(), or one CPU's per-cpu lists."""

from dataclasses import dataclass

from .base import Operation, operation


@operation
@dataclass(frozen=True)
class Drain(Operation):
    """drain_all_pages(NULL), or one CPU's lists."""

    kind = "drain"
    rank = 3

    cpu: int | None = None

    def simplicity(self):
        return ()

    def apply(self, m):
        return m.drain(self.cpu)

    def code(self, m="m"):
        return f"{m}.drain()" if self.cpu is None else f"{m}.drain(cpu={self.cpu})"
