"""The migrate_pages operation: the system call, by a task, moving a task's pages from some nodes to others."""

from dataclasses import dataclass

from .base import Operation, operation
from .code import nodes_code
from .syscall import check_user_nodes


@operation
@dataclass(frozen=True)
class MigratePages(Operation):
    """migrate_pages(pid, maxnode, old_nodes, new_nodes) by a task: pid 0 is the caller, another the task of that
    id; cap_sys_nice: the caller holds CAP_SYS_NICE; may_ptrace: it passes ptrace_may_access() for another task."""

    kind = "migrate_pages"
    rank = 9
    returns_errno = True

    pid: int
    old_nodes: frozenset | None
    new_nodes: frozenset | None
    task: int = 0
    maxnode: int | None = None
    cap_sys_nice: bool = False
    may_ptrace: bool = True

    def simplicity(self):
        old, new = sorted(self.old_nodes or ()), sorted(self.new_nodes or ())
        return (len(old) + len(new), old, new, self.pid)

    def validate(self, m, where):
        check_user_nodes(self.old_nodes, where)
        check_user_nodes(self.new_nodes, where)

    def apply(self, m):
        return m.sys_migrate_pages(self.pid, None if self.old_nodes is None else set(self.old_nodes),
                                   None if self.new_nodes is None else set(self.new_nodes), maxnode=self.maxnode,
                                   task=self.task, cap_sys_nice=self.cap_sys_nice, may_ptrace=self.may_ptrace)

    def code(self, m="m"):
        extra = "" if self.maxnode is None else f", maxnode={self.maxnode}"
        extra += ", cap_sys_nice=True" if self.cap_sys_nice else ""
        extra += "" if self.may_ptrace else ", may_ptrace=False"
        return (f"{m}.sys_migrate_pages({self.pid}, {nodes_code(self.old_nodes)}, {nodes_code(self.new_nodes)}"
                f"{extra}, task={self.task})")
