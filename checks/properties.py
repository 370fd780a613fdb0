"""The explorer's view of spec/: each invariant as a property checked after every transition.

A property has a `name` and `violations(before, op, result, m, after=None) -> list[str]`; `before`
is the frozen state the operation started from, `m` the machine after it and `after` its frozen
state (taken from `m` when not given). State views (spec/view.py) are built from frozen states and
memoized by state, shared by every invariant: a state reached many times is viewed once.

A property may also say which kinds of operation it can judge at all: `applies_to(kind)`, from
what the operation class declares (checks/ops/base.py). The explorer does not ask it about the
others, for which `violations` would return no message anyway.
"""

from dataclasses import replace
from functools import lru_cache, partial

from buddycheck.model.constants import PAGE_SIZE
from buddycheck.model.errors import ModelError
from buddycheck.model.gfp import __GFP_THISNODE as GFP_THISNODE_BIT
from buddycheck.model.gfp import gfp_zone
from buddycheck.model.mempolicy import MPOL_BIND, MPOL_F_LOCAL, MPOL_INTERLEAVE, MPOL_PREFERRED, N_HIGH_MEMORY
from buddycheck.model.nodemask import next_node_in
from buddycheck.model.page_table import ZERO_PFN, entries_in, lookup
from buddycheck.model.sysctl import INT, VM_TABLE
from buddycheck.spec.hygiene import HYGIENE_INVARIANTS
from buddycheck.spec.invariants import STATE_INVARIANTS
from buddycheck.spec.operation_invariants import (
    INTERLEAVE_CURSOR,
    MBIND_STRICT_PLACEMENT,
    MIGRATE_PAGES_PLACEMENT,
    MOVE_PAGES_STATUS,
    PAIR_OUTCOMES,
    POLICY_MEETS_CPUSET,
    SYSCTL_WRITE,
    THP_NODE,
    outcome_class,
    strict_bind_judged,
)
from buddycheck.spec.page_table import PAGE_TABLE_INVARIANTS
from buddycheck.spec.steps import STEP_INVARIANTS, request_of
from buddycheck.spec.view import static_view, view_from_frozen

from .ops import AddTask, AllocPages, AllocVma, Mbind, MigratePages, MovePages, SetCpuset, SetMempolicy, Sysctl
from .ops.code import run_with_env
from .progress_property import AllocProgressProperty

VIEWS_KEPT = 4096  # views memoized per ViewCache; a view is a few kilobytes on the presets


class ViewCache:
    """StateViews memoized by frozen state (the last VIEWS_KEPT used), for one machine at a time.

    When a caller gives no frozen state, the machine is frozen once per transition, which is
    recognised by the machine and result objects (result None: the initial state).
    """

    def __init__(self, size=VIEWS_KEPT):
        self.size = size
        self._machine = None
        self._views = None  # frozen state -> StateView, on self._machine's static view
        self._last = (None, None)  # (frozen state, its view): the state every property asks about next
        self._frozen_key = None  # (m, result, m.freeze())

    def __getstate__(self):
        return {"size": self.size}  # a memo travels empty (to a cluster's workers): it is rebuilt there

    def __setstate__(self, state):
        self.__init__(state["size"])

    def frozen(self, m, result, after=None):
        """The frozen state after a transition: `after` when given, else m's (frozen once per transition)."""
        if after is not None:
            return after
        key = self._frozen_key
        if key is None or key[0] is not m or key[1] is not result:
            key = self._frozen_key = (m, result, m.freeze())
        return key[2]

    def view(self, m, result, after=None):
        """The StateView of m after the transition that returned `result`."""
        return self.view_of_state(m, self.frozen(m, result, after))

    def view_of_state(self, m, frozen):
        """The StateView of the frozen state `frozen` of machine m (or of a machine booted like m)."""
        if m is not self._machine:  # another machine: its own boot-time part, so its own views
            self._views = lru_cache(maxsize=self.size)(partial(view_from_frozen, static_view(m)))
            self._last = (None, None)
            self._machine = m
        last, view = self._last
        if frozen is not last:
            view = self._views(frozen)
            self._last = (frozen, view)
        return view


class StateInvariantProperty:
    """A spec state invariant, judged on each distinct state, and on the states a concurrent pair met.

    At each preemption of a concurrent pair, and where one operation waits for a lock the other holds,
    the other CPU sees the state between two atomic sections (model/interleaving.py,
    `ConcurrentResult.switches`): it is judged like any state, the blocks either
    CPU held in a local variable counted as allocated. The explorer judges such a transition even when
    its end state was seen before, since the states met on the way differ by schedule.
    """

    per_state = True

    def __init__(self, invariant, cache):
        self.invariant = invariant
        self.name = invariant.name
        self.profile = getattr(invariant, "profile", "4.19")
        self.replaces = getattr(invariant, "replaces", None)  # the 4.19 rule it stands for in the strict profile
        self.cache = cache

    def violations(self, before, op, result, m, after=None):
        out = [v.message for v in self.invariant.check(self.cache.view(m, result, after))]
        n = 0
        for switch in getattr(result, "switches", ()):
            if not switch.wait:
                n += 1
            where = "at a wait for a lock" if switch.wait else f"at preemption {n}"
            for v in self.invariant.check(self.cache.view_of_state(m, switch.state)):
                out.append(f"{where} (operation {switch.slot} set aside at {switch.point}): {v.message}")
        return out


def state_properties(invariants=STATE_INVARIANTS):
    cache = ViewCache()
    return [StateInvariantProperty(inv, cache) for inv in invariants]


class BeforeState:
    """The state before a transition: its view, and the machine rebuilt once per frozen state on a scratch machine."""

    def __init__(self, cache=None):
        self.cache = cache if cache is not None else ViewCache()
        self._frozen = None
        self._machine = None
        self._request = None
        self._view = (None, None, None)  # (machine, before, its view): a transition's properties ask alike

    def view(self, m, before):
        """The StateView of `before`, a frozen state of m's machine (no machine is restored for it)."""
        machine, last, view = self._view
        if before is not last or m is not machine:
            view = self.cache.view_of_state(m, before)
            self._view = (m, before, view)
        return view

    def request(self, m, before, op):
        """The spec's Request for an allocation from `before`, built once for all step invariants."""
        if self._request is not None and self._request[0] is before and self._request[1] is op:
            return self._request[2]
        k, _ = self.get(m, before)
        if not op.policied:
            request = request_of(k, op.gfp, op.order, op.cpu, op.nid, op.nodes, **op.context())
        else:
            nid, nodemask, _ = policy_request(k, op)
            request = request_of(k, op.gfp, op.order, op.cpu, nid, nodemask, op.task, in_interrupt=op.in_interrupt)
        if request.dirty_ok != op.env.dirty_ok:  # the scratch machine's env is the idle one
            request = replace(request, dirty_ok=op.env.dirty_ok)
        self._request = (before, op, request)
        return request

    def get(self, m, before):
        if self._machine is None or type(self._machine) is not type(m) or self._machine.topology != m.topology:
            self._machine = m.copy()
            self._frozen = None
        if self._frozen is not before:
            self._machine.restore(before)
            self._frozen = before
        return self._machine, self.view(m, before)


def policy_request(k, op):
    """(preferred node, nodemask, interleave choice or None) that 4.19's alloc_pages_current must use.

    Stated from the task's policy in the state before the operation, independently of the model's
    policy functions: interrupt context and __GFP_THISNODE use the default (local) policy; INTERLEAVE
    takes next_node_in(il_prev); BIND passes its nodes when the request's zone is policied and they
    meet the cpuset; PREFERRED names its node.
    """
    task = k.tasks[op.task]
    local = k.topology.cpu_to_node(op.cpu)
    pol = task.mempolicy
    if op.in_interrupt or (op.gfp & GFP_THISNODE_BIT) or pol is None:
        return local, None, None
    if pol.mode == MPOL_INTERLEAVE:
        choice = next_node_in(task.il_prev, pol.nodes, k.topology.max_numnodes)
        return choice, None, (pol.nodes, choice)
    if pol.mode == MPOL_PREFERRED and not (pol.flags & MPOL_F_LOCAL):
        return pol.preferred_node, None, None
    if pol.mode == MPOL_BIND:
        policy_zone = k.policy_zone if pol.nodes & k.node_states(N_HIGH_MEMORY) else 4  # ZONE_MOVABLE
        zone_ok = gfp_zone(op.gfp, k.topology.configured_zones) >= policy_zone
        cpuset_ok = bool(pol.nodes & task.mems_allowed)
        return local, (pol.nodes if zone_ok and cpuset_ok else None), None
    return local, None, None


class StepInvariantProperty:
    """A spec step invariant, judged on every `step_judged` operation (state before, request, result, after),
    and, if it reads only the states' fixed shape (`judges_pairs`), on each allocation of a concurrent pair.

    An operation of a pair has no state before or after of its own, and the other operation may change
    its task's policy or cpuset while it runs: it is judged against the request as the pair's start state
    and as its end state make it, and a page that one of the two allows passes.
    """

    per_state = False

    def __init__(self, invariant, cache, before_cache):
        self.invariant = invariant
        self.name = invariant.name
        self.profile = getattr(invariant, "profile", "4.19")
        self.cache = cache
        self.before_cache = before_cache

    def applies_to(self, kind):
        return kind.step_judged or (kind.interleaves and self.invariant.judges_pairs)

    def violations(self, before, op, result, m, after=None):
        if before is None:
            return []
        if op.interleaves:
            return self.pair_violations(before, op, result, m, after) if self.invariant.judges_pairs else []
        if not op.step_judged:
            return []
        if getattr(result, "page", None) is None:
            return []  # every step invariant of spec/steps.py judges a served page; no views needed
        before_view = self.before_cache.view(m, before)
        request = self.before_cache.request(m, before, op)
        after_view = self.cache.view(m, result, after)
        return [v.message for v in self.invariant.check_step(before_view, request, result, after_view)]

    def pair_violations(self, before, op, result, m, after):
        after = m.freeze() if after is None else after
        shape = self.before_cache.view(m, before)
        out = []
        for slot, (sub, res) in enumerate(zip((op.first, op.second), result.results)):
            if not sub.step_judged or getattr(res, "page", None) is None:
                continue
            judged = [self.invariant.check_step(shape, self.before_cache.request(m, state, sub), res, shape)
                      for state in (before, after)]
            if all(judged):  # the page is wrong against the request of the start and of the end alike
                which = ("first", "second")[slot]
                out += [f"{v.message}, in the pair's {which} operation {sub.code()}, against the request of the "
                        "pair's start and of its end alike" for v in judged[0]]
        return out


class InterleaveChoiceProperty:
    """interleave_fairness per step: each interleaved allocation takes next_node_in(il_prev, mask).

    With the interleave_fairness theorem (next_node_in visits the mask round-robin from any cursor),
    this makes any |m| consecutive choices of a task name each node of m exactly once.
    """

    per_state = False
    name = "interleave_fairness"

    def __init__(self, before_cache):
        self.before_cache = before_cache

    @staticmethod
    def applies_to(kind):
        return issubclass(kind, AllocPages)

    def violations(self, before, op, result, m, after=None):
        if not isinstance(op, AllocPages) or before is None:
            return []
        k, _ = self.before_cache.get(m, before)
        _, _, interleave = policy_request(k, op)
        if interleave is None:
            return []
        mask, expected = interleave
        chosen = m.tasks[op.task].il_prev
        if chosen != expected:
            previous = k.tasks[op.task].il_prev
            return [f"task {op.task} interleaving over {sorted(mask)} with il_prev {previous} chose node "
                    f"{chosen}, not the next node {expected}"]
        return []


class ThpNodeProperty:
    """thp_node (spec/operation_invariants.py) on every THP that alloc_pages_vma() served."""

    per_state = False

    def __init__(self, before_cache, invariant=THP_NODE):
        self.invariant = invariant
        self.name = invariant.name
        self.profile = getattr(invariant, "profile", "4.19")
        self.before_cache = before_cache

    @staticmethod
    def applies_to(kind):
        return issubclass(kind, AllocVma)

    def violations(self, before, op, result, m, after=None):
        if not isinstance(op, AllocVma) or not op.hugepage or before is None or getattr(result, "page", None) is None:
            return []
        k, _ = self.before_cache.get(m, before)
        task = k.tasks[op.task]
        vma = next((v for v in task.vmas if v.start <= op.addr < v.end), None)
        return [str(v) for v in self.invariant.check(task, vma, k.topology.cpu_to_node(op.cpu), op.task,
                                                     result.page, result.nid)]


class InterleaveCursorProperty:
    """interleave_cursor (spec/operation_invariants.py) on every transition."""

    per_state = False

    def __init__(self, invariant=INTERLEAVE_CURSOR):
        self.invariant = invariant
        self.name = invariant.name
        self.profile = getattr(invariant, "profile", "4.19")

    def violations(self, before, op, result, m, after=None):
        if before is None:
            return []
        own = getattr(op, "task", None) if op.moves_interleave_cursor else None
        cursors_after = {t: task.il_prev for t, task in m.tasks.items()} if after is None else frozen_cursors(after)
        cursors = frozen_cursors(before)
        if cursors == cursors_after:
            return []
        return [str(v) for v in self.invariant.check(cursors, cursors_after, own, op.code())]


class SysctlWriteProperty:
    """sysctl_write (spec/operation_invariants.py) on every sysctl write."""

    per_state = False

    def __init__(self, invariant=SYSCTL_WRITE):
        self.invariant = invariant
        self.name = invariant.name
        self.profile = getattr(invariant, "profile", "4.19")

    @staticmethod
    def applies_to(kind):
        return issubclass(kind, Sysctl)

    def violations(self, before, op, result, m, after=None):
        if not isinstance(op, Sysctl) or before is None:
            return []
        table = VM_TABLE[op.name]
        after = m.freeze() if after is None else after
        return [str(v) for v in self.invariant.check(op.name, table.data, op.value, result.ret, before, after,
                                                     table.kind == INT)]


class PairOutcomesProperty:
    """pair_outcomes (spec/operation_invariants.py) on every concurrent pair.

    The two sequential orders run on a scratch machine from the pair's start state, once per start state
    and pair (every schedule of the pair from there is judged against the same two orders).
    """

    per_state = False
    ORDERS_KEPT = 1024

    def __init__(self, invariant=PAIR_OUTCOMES):
        self.invariant = invariant
        self.name = invariant.name
        self.profile = getattr(invariant, "profile", "4.19")
        self._machine = None
        self._orders = {}

    @staticmethod
    def applies_to(kind):
        return kind.interleaves

    def violations(self, before, op, result, m, after=None):
        if before is None or not op.interleaves:
            return []
        classes = tuple(outcome_class(r) for r in result.results)
        sequential = self.sequential_outcomes(m, before, op.first, op.second, op.env)
        return [str(v) for v in self.invariant.check(classes, sequential, op.code())]

    def sequential_outcomes(self, m, before, first, second, env):
        """The (first, second) outcome classes of each sequential order from `before` that the model runs."""
        key = (type(m), m.topology, before, first, second, env)
        if key not in self._orders:
            if len(self._orders) >= self.ORDERS_KEPT:
                self._orders.clear()
            self._orders[key] = tuple(self._run_orders(m, before, first, second, env))
        return self._orders[key]

    def _run_orders(self, m, before, first, second, env):
        if self._machine is None or type(self._machine) is not type(m) or self._machine.topology != m.topology:
            self._machine = m.copy()
        k = self._machine
        for swapped in (False, True):
            k.restore(before)
            try:
                a, b = run_with_env(k, env, partial(_in_order, k, first, second, swapped))
            except ModelError:
                continue  # an order the model refuses is no order
            yield (outcome_class(a), outcome_class(b))


class PolicyMeetsCpusetProperty:
    """policy_meets_cpuset (spec/operation_invariants.py) on the state after every transition and at each switch."""

    per_state = False  # the switch states of a concurrent pair differ by schedule, as for the state invariants

    def __init__(self, invariant=POLICY_MEETS_CPUSET):
        self.invariant = invariant
        self.name = invariant.name
        self.profile = getattr(invariant, "profile", "4.19")

    @staticmethod
    def applies_to(kind):
        # only these write a task's policy or mems_allowed (mbind writes VMA policies, which it does not judge)
        return kind.interleaves or issubclass(kind, (SetMempolicy, SetCpuset, AddTask))

    def violations(self, before, op, result, m, after=None):
        if not self.applies_to(type(op)):
            return []
        tasks = m.tasks.values() if after is None else after.tasks
        out = [str(v) for v in self.invariant.check(tasks)]
        for n, switch in enumerate(getattr(result, "switches", ()), 1):
            where = f"at preemption {n} (operation {switch.slot} set aside at {switch.point}): "
            out += [str(v) for v in self.invariant.check(switch.state.tasks, where)]
        return out


def _in_order(k, first, second, swapped):
    """Run the pair's operations one after the other on k; their results in the pair's order."""
    if swapped:
        b = second.apply(k)
        return first.apply(k), b
    a = first.apply(k)
    return a, second.apply(k)


class MbindStrictPlacementProperty:
    """mbind_strict_placement (spec/operation_invariants.py) on every mbind it judges, over the task's pages after."""

    per_state = False

    def __init__(self, invariant=MBIND_STRICT_PLACEMENT):
        self.invariant = invariant
        self.name = invariant.name
        self.profile = getattr(invariant, "profile", "4.19")

    @staticmethod
    def applies_to(kind):
        return issubclass(kind, Mbind)

    def violations(self, before, op, result, m, after=None):
        if (not isinstance(op, Mbind) or getattr(result, "ret", None) != 0
                or not strict_bind_judged(op.mode, op.flags, op.maxnode)):
            return []
        end = op.start + -(-op.length // PAGE_SIZE) * PAGE_SIZE
        pages = mapped_pages(m, op.task, op.start, end)
        return [str(v) for v in self.invariant.check(op.mode, op.nodes or frozenset(), op.flags, 0, pages)]


def mapped_pages(m, task, start=0, end=1 << 64):
    """(address, pfn, node, mapcount) of each page other than the zero page that task maps in [start, end) on m."""
    mapped = m.mapped_pfns()
    return [(addr, pfn, m.page_zone(pfn).nid, len(mapped[pfn]))
            for addr, pfn, _ in entries_in(m.tasks[task].page_table, start, end) if pfn != ZERO_PFN]


class MigratePagesPlacementProperty:
    """migrate_pages_placement (spec/operation_invariants.py) on every migrate_pages, over the target's pages after."""

    per_state = False

    def __init__(self, invariant=MIGRATE_PAGES_PLACEMENT):
        self.invariant = invariant
        self.name = invariant.name
        self.profile = getattr(invariant, "profile", "4.19")

    @staticmethod
    def applies_to(kind):
        return issubclass(kind, MigratePages)

    def violations(self, before, op, result, m, after=None):
        if not isinstance(op, MigratePages) or getattr(result, "ret", None) != 0 or op.maxnode is not None:
            return []
        target = op.task if op.pid == 0 else op.pid
        return [str(v) for v in self.invariant.check(op.old_nodes or (), op.new_nodes or (), op.cap_sys_nice, 0,
                                                     mapped_pages(m, target))]


class MovePagesStatusProperty:
    """move_pages_status (spec/operation_invariants.py) on every move_pages, over the target's pages after."""

    per_state = False

    def __init__(self, invariant=MOVE_PAGES_STATUS):
        self.invariant = invariant
        self.name = invariant.name
        self.profile = getattr(invariant, "profile", "4.19")

    @staticmethod
    def applies_to(kind):
        return issubclass(kind, MovePages)

    def violations(self, before, op, result, m, after=None):
        status = getattr(result, "status", None)
        if not isinstance(op, MovePages) or status is None or not any(v is not None and v >= 0 for v in status):
            return []
        target = op.task if op.pid == 0 else op.pid
        table = m.tasks[target].page_table
        where = {}
        for addr in op.pages:
            entry = lookup(table, addr)
            if entry is not None and entry[1] != ZERO_PFN:
                where[addr] = m.page_zone(entry[1]).nid
        return [str(v) for v in self.invariant.check(list(op.pages), list(status), where)]


def frozen_cursors(frozen):
    """task id -> il_prev, read from a frozen state."""
    return {task.tid: task.il_prev for task in frozen.tasks}


def all_properties():
    """Every invariant of the catalogue the explorer can check per transition."""
    cache = ViewCache()
    before_cache = BeforeState(cache)
    state = STATE_INVARIANTS + HYGIENE_INVARIANTS + PAGE_TABLE_INVARIANTS
    props = [StateInvariantProperty(inv, cache) for inv in state]
    props += [StepInvariantProperty(inv, cache, before_cache) for inv in STEP_INVARIANTS]
    props.append(InterleaveChoiceProperty(before_cache))
    props += [ThpNodeProperty(before_cache), InterleaveCursorProperty(), SysctlWriteProperty(),
              PairOutcomesProperty(), PolicyMeetsCpusetProperty(), MbindStrictPlacementProperty(),
              MigratePagesPlacementProperty(), MovePagesStatusProperty()]
    props.append(AllocProgressProperty(before_cache))
    return props


def property_named(name):
    """A fresh catalogue property by its invariant name (how printed code names one); KeyError if none."""
    for prop in all_properties():
        if prop.name == name:
            return prop
    raise KeyError(f"no invariant named {name!r} in the catalogue")
