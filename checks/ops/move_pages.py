"""The move_pages operation: the system call, by a task, asking where a task's pages are or moving them."""

from dataclasses import dataclass

from .base import Operation, config_check, operation
from .code import mbind_flags_code
from .fields import MbindFlags, Words


@operation
@dataclass(frozen=True)
class MovePages(Operation):
    """move_pages(pid, count, pages, nodes, status, flags) by a task: nodes None asks each page's node, else
    moves each page to its node; pid, cap_sys_nice and may_ptrace as for migrate_pages (checks/ops/migrate_pages.py).
    """

    kind = "move_pages"
    rank = 9
    returns_errno = True

    pid: int
    pages: Words
    nodes: Words | None = None
    flags: MbindFlags = 0  # MPOL_MF_MOVE, MPOL_MF_MOVE_ALL
    task: int = 0
    cap_sys_nice: bool = False
    may_ptrace: bool = True

    def simplicity(self):
        return (len(self.pages), self.nodes is not None, self.nodes or (), self.pages, self.pid)

    def validate(self, m, where):
        config_check(self.nodes is None or len(self.nodes) == len(self.pages), where, "nodes", self.nodes,
                     "give one node per page")

    def apply(self, m):
        return m.sys_move_pages(self.pid, self.pages, self.nodes, flags=self.flags, task=self.task,
                                cap_sys_nice=self.cap_sys_nice, may_ptrace=self.may_ptrace)

    def code(self, m="m"):
        pages = "[" + ", ".join(f"{a:#x}" for a in self.pages) + "]"
        nodes = "None" if self.nodes is None else repr(list(self.nodes))
        extra = f", flags={mbind_flags_code(self.flags)}" if self.flags else ""
        extra += ", cap_sys_nice=True" if self.cap_sys_nice else ""
        extra += "" if self.may_ptrace else ", may_ptrace=False"
        return f"{m}.sys_move_pages({self.pid}, {pages}, {nodes}{extra}, task={self.task})"
