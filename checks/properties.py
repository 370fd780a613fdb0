"""The explorer's view of spec/: each invariant as a property checked after every transition.

A property has a `name` and `violations(before, op, result, m, after=None) -> list[str]`; `before`
is the frozen state the operation started from, `m` the machine after it and `after` its frozen
state (taken from `m` when not given). State views (spec/view.py) are built from frozen states and
memoized by state, shared by every invariant: a state reached many times is viewed once.

The operation invariants' properties (spec/operation_invariants.py) are in checks/operation_properties.py.

A property may also say which kinds of operation it can judge at all: `applies_to(kind)`, from
what the operation class declares (checks/ops/base.py). The explorer does not ask it about the
others, for which `violations` would return no message anyway.
"""

from dataclasses import replace
from functools import lru_cache, partial

from buddycheck.model.gfp import __GFP_THISNODE as GFP_THISNODE_BIT
from buddycheck.model.gfp import gfp_zone
from buddycheck.model.mempolicy import MPOL_BIND, MPOL_F_LOCAL, MPOL_INTERLEAVE, MPOL_PREFERRED, N_HIGH_MEMORY
from buddycheck.model.nodemask import next_node_in
from buddycheck.spec.hygiene import HYGIENE_INVARIANTS
from buddycheck.spec.invariants import STATE_INVARIANTS
from buddycheck.spec.page_table import PAGE_TABLE_INVARIANTS
from buddycheck.spec.steps import STEP_INVARIANTS, request_of
from buddycheck.spec.view import static_view, view_from_frozen

from .operation_properties import operation_properties
from .ops import AllocPages
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


def all_properties():
    """Every invariant of the catalogue the explorer can check per transition."""
    cache = ViewCache()
    before_cache = BeforeState(cache)
    state = STATE_INVARIANTS + HYGIENE_INVARIANTS + PAGE_TABLE_INVARIANTS
    props = [StateInvariantProperty(inv, cache) for inv in state]
    props += [StepInvariantProperty(inv, cache, before_cache) for inv in STEP_INVARIANTS]
    props.append(InterleaveChoiceProperty(before_cache))
    props += operation_properties(before_cache)
    props.append(AllocProgressProperty(before_cache))
    return props


def property_named(name):
    """A fresh catalogue property by its invariant name (how printed code names one); KeyError if none."""
    for prop in all_properties():
        if prop.name == name:
            return prop
    raise KeyError(f"no invariant named {name!r} in the catalogue")
