"""alloc_progress (spec/progress.py) as an explorer property: judged on every allocation that fails or kills.

The request is the one BeforeState builds for the step invariants (an alloc_pages() call's node and
nodemask come from checks/properties.policy_request, which restates 4.19's policy rules); the
environment's answers are the operation's; whether the task's memory cgroup refuses the charge is
read off the state before.
"""

from buddycheck.model.gfp import __GFP_ACCOUNT as GFP_ACCOUNT_BIT
from buddycheck.model.gfp import __GFP_NOFAIL as GFP_NOFAIL_BIT
from buddycheck.spec.progress import ALLOC_PROGRESS


def memcg_refuses(k, op, request):
    """memcg_kmem_charge() restated: a limit the charge would pass, and nothing that forces it."""
    if not k.topology.memcg_kmem_enabled or not request.has(GFP_ACCOUNT_BIT) or request.in_interrupt:
        return False
    task = k.tasks[getattr(op, "task", 0)]  # an operation without a task runs as task 0
    if task.memcg_limit is None or task.memcg_usage + (1 << request.order) <= task.memcg_limit:
        return False
    return not (request.has(GFP_NOFAIL_BIT) or request.oom_victim or request.pf_memalloc)


class AllocProgressProperty:
    """alloc_progress on every step-judged allocation that returned NULL or reached the OOM killer."""

    per_state = False

    def __init__(self, before_cache, invariant=ALLOC_PROGRESS):
        self.invariant = invariant
        self.name = invariant.name
        self.profile = getattr(invariant, "profile", "4.19")
        self.before_cache = before_cache

    @staticmethod
    def applies_to(kind):
        return kind.step_judged

    def violations(self, before, op, result, m, after=None):
        if before is None or result is None or not op.step_judged:
            return []
        killed = any(e.kind == "oom_kill" for e in getattr(result, "events", ()))
        if getattr(result, "page", None) is not None and not killed:
            return []
        k, view = self.before_cache.get(m, before)
        request = self.before_cache.request(m, before, op)
        refused = memcg_refuses(k, op, request)
        return [v.message for v in self.invariant.check_step(view, request, result, None, env=op.env,
                                                             memcg_refused=refused)]
