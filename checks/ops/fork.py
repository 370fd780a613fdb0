"""The fork operation: a task forks a child with a copy of its policies and a copy-on-write copy of its mm."""

from dataclasses import dataclass

from .base import Operation, config_check, operation


@operation
@dataclass(frozen=True)
class Fork(Operation):
    """fork() by a task: the child `child` gets copies of its policies, cpuset and cursor, and shares its pages
    copy-on-write; refused (not enabled) while a task `child` exists."""

    kind = "fork"
    rank = 9
    returns_errno = True

    child: int
    task: int = 0

    def simplicity(self):
        return (self.child,)

    def creates_tasks(self):
        return (self.child,)

    def validate(self, m, where):
        config_check(self.child not in m.tasks, where, "child", self.child,
                     f"a task with this id exists from the start (tasks: {sorted(m.tasks)}): never enabled")

    def apply(self, m):
        return m.fork(self.task, child=self.child)

    def code(self, m="m"):
        return f"{m}.fork({self.task}, child={self.child})"
