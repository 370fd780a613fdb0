"""The set_mempolicy operation: the system call, by a task."""

from dataclasses import dataclass

from .base import Operation, operation
from .code import mode_code, nodes_code
from .fields import MempolicyMode
from .syscall import check_user_nodes


@operation
@dataclass(frozen=True)
class SetMempolicy(Operation):
    """set_mempolicy(mode | flags, nodes, maxnode) by a task (maxnode None: a full mask)."""

    kind = "set_mempolicy"
    rank = 6
    moves_interleave_cursor = True
    returns_errno = True
    sets_policy = True
    quiet_fields = frozenset({"maxnode"})

    mode: MempolicyMode
    nodes: frozenset | None = None
    task: int = 0
    maxnode: int | None = None

    def simplicity(self):
        nodes = sorted(self.nodes or ())
        return (len(nodes), nodes)

    def validate(self, m, where):
        check_user_nodes(self.nodes, where)

    def apply(self, m):
        return m.set_mempolicy(self.mode, None if self.nodes is None else set(self.nodes), maxnode=self.maxnode,
                               task=self.task)

    def code(self, m="m"):
        extra = "" if self.maxnode is None else f", maxnode={self.maxnode}"
        return f"{m}.set_mempolicy({mode_code(self.mode)}, {nodes_code(self.nodes)}{extra}, task={self.task})"
