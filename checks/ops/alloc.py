"""The alloc operation: __alloc_pages_nodemask() with an explicit node and nodemask."""

from dataclasses import dataclass

from buddycheck.model.environment import IDLE, Environment

from .base import Operation, config_check, operation
from .code import gfp_code, nodes_code, with_env
from .fields import GfpMask
from .request import CONTEXT_FLAGS, request_simplicity


@operation
@dataclass(frozen=True)
class Alloc(Operation):
    """__alloc_pages_nodemask(gfp, order) from a CPU (its node preferred), with the env's answers.

    `nodes` is the nodemask argument (None: no mask); the flags are the caller's context (`current`).
    """

    kind = "alloc"
    rank = 0
    allocates = True
    step_judged = True
    quiet_fields = frozenset({"nodes", *CONTEXT_FLAGS})

    gfp: GfpMask
    order: int
    cpu: int = 0
    nid: int | None = None
    env: Environment = IDLE
    nodes: frozenset | None = None
    in_interrupt: bool = False
    pf_memalloc: bool = False
    rt_task: bool = False
    oom_victim: bool = False
    in_serving_softirq: bool = False
    memalloc_noio: bool = False
    memalloc_nofs: bool = False
    pf_dumpcore: bool = False

    def context(self):
        return {flag: True for flag in CONTEXT_FLAGS if getattr(self, flag)}

    def simplicity(self):
        return request_simplicity(self)

    def validate(self, m, where):
        t = m.topology
        if self.nid is not None:
            config_check(self.nid in t.node_ids, where, "nid", self.nid, f"no such node (nodes: {list(t.node_ids)})")
        for nid in sorted(self.nodes or ()):
            config_check(nid in t.node_ids, where, "nodes", nid, f"no such node (nodes: {list(t.node_ids)})")

    def apply(self, m):
        m.env = self.env
        try:
            return m.alloc(self.gfp, self.order, cpu=self.cpu, nid=self.nid, nodemask=self.nodes, **self.context())
        finally:
            m.env = IDLE

    def code(self, m="m"):
        args = [gfp_code(self.gfp), str(self.order), f"cpu={self.cpu}"]
        if self.nid is not None:
            args.append(f"nid={self.nid}")
        if self.nodes is not None:
            args.append(f"nodemask={nodes_code(self.nodes)}")
        args += [f"{flag}=True" for flag in self.context()]
        return with_env(f"{m}.alloc({', '.join(args)})", self.env, m)
