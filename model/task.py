"""The task-side state the allocator reads (a slice of task_struct and its mm): cpuset, mempolicy, memcg, VMAs,
and the page table (model/page_table.py).

Machines keep one `Task` per task id; the mempolicy operations (model/mempolicy_api.py) create them
and `current` (model/machine.py `Current`) points at the one running.
"""

from .frozen import FrozenTask, build


class Task:
    """The task-side state the allocator reads: cpuset, mempolicy and its cursor, memcg usage, VMAs, page table
    and which of its entries are write-protected for copy-on-write."""

    __slots__ = ("tid", "mems_allowed", "mempolicy", "il_prev", "memcg_limit", "memcg_usage", "vmas",
                 "page_table", "wrprotected", "mems_allowed_seq")

    def __init__(self, tid, mems_allowed, memcg_limit=None, il_prev=0):
        self.tid = tid
        self.mems_allowed = frozenset(mems_allowed)
        self.mempolicy = None
        self.il_prev = il_prev
        self.memcg_limit = memcg_limit
        self.memcg_usage = 0
        self.vmas = ()
        self.page_table = ()  # sorted (address, pfn or ZERO_PFN, order): an immutable value
        self.wrprotected = ()  # sorted addresses of the entries of real pages fork write-protected
        self.mems_allowed_seq = 0  # the seqcount readers check (model/cpuset.py); 0 at rest

    def freeze(self):
        # mempolicies, VMAs and the page table are immutable values, so they freeze as themselves
        return build(FrozenTask, (self.tid, tuple(sorted(self.mems_allowed)), self.mempolicy, self.il_prev,
                                  self.memcg_limit, self.memcg_usage, self.vmas, self.page_table,
                                  self.wrprotected, self.mems_allowed_seq))

    @classmethod
    def thaw(cls, frozen):
        """The task a FrozenTask was taken from."""
        task = cls(frozen.tid, frozen.mems_allowed, frozen.memcg_limit, frozen.il_prev)
        task.memcg_usage = frozen.memcg_usage
        task.mempolicy = frozen.mempolicy
        task.vmas = frozen.vmas
        task.page_table = frozen.page_table
        task.wrprotected = frozen.wrprotected
        task.mems_allowed_seq = frozen.mems_allowed_seq
        return task
