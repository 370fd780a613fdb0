"""The add_task operation: a task with its own cpuset (a scenario's setup step)."""

from dataclasses import dataclass

from .base import SETUP_RANK, Operation, operation
from .code import nodes_code


@operation
@dataclass(frozen=True)
class AddTask(Operation):
    """A task with its own cpuset (mems), created before the search (a scenario's setup step)."""

    kind = "add_task"
    rank = SETUP_RANK

    tid: int
    mems: frozenset

    def apply(self, m):
        return m.add_task(self.tid, set(self.mems))

    def code(self, m="m"):
        return f"{m}.add_task({self.tid}, {nodes_code(self.mems)})"
