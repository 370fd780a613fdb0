"""The set_memcg_limit operation: a task's memory cgroup limit (a scenario's setup step)."""

from dataclasses import dataclass

from .base import SETUP_RANK, Operation, operation


@operation
@dataclass(frozen=True)
class SetMemcgLimit(Operation):
    """A task's memory cgroup limit in pages (a scenario's setup step); __GFP_ACCOUNT requests charge it."""

    kind = "set_memcg_limit"
    rank = SETUP_RANK

    task: int
    pages: int

    def apply(self, m):
        return m.set_memcg_limit(self.task, self.pages)

    def code(self, m="m"):
        return f"{m}.set_memcg_limit({self.task}, {self.pages})"
