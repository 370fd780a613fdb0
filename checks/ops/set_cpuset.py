"""The set_cpuset operation: a write of a task's cpuset mems."""

from dataclasses import dataclass

from .base import Operation, operation
from .code import nodes_code
from .syscall import check_user_nodes


@operation
@dataclass(frozen=True)
class SetCpuset(Operation):
    """A write of the task's cpuset mems: the task's and its VMAs' policies are rebound."""

    kind = "set_cpuset"
    rank = 7
    returns_errno = True

    task: int
    nodes: frozenset

    def simplicity(self):
        nodes = sorted(self.nodes or ())
        return (len(nodes), nodes)

    def validate(self, m, where):
        check_user_nodes(self.nodes, where)

    def apply(self, m):
        return m.set_cpuset(self.task, set(self.nodes))

    def code(self, m="m"):
        return f"{m}.set_cpuset({self.task}, {nodes_code(self.nodes)})"
