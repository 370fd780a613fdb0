"""Theorems: Z3 queries whose `unsat` proves a property for every input in a stated range.

Each `Theorem` builds one or more `Query`s: assumptions (what the inputs
range over, and any hypothesis) and a claim. Proving a query asks Z3 for
assumptions AND NOT claim: `unsat` proves the claim for every input, `sat`
refutes it with a model that is decoded into readable values, and `unknown`
(a timeout included) is never a proof. Before that, the assumptions alone
are checked to be satisfiable, so that no proof is vacuous; unsatisfiable
assumptions make the result `unknown`, with that reason.

Every theorem returns one `TheoremResult`. The encodings of model functions
(`find_buddy_pfn`, `next_node_in`, `gfp_zone_table_lookup`, the zonelist
iterator, `policy_nodemask`, the expand and merge transitions) are plain
functions over Z3 terms so that tests can evaluate them against the Python
model on many inputs, and so that a deliberately broken variant can be
passed in to see the theorem refuted.

A theorem is about 4.19's functions as encoded. `Theorem.functions` names the kernel functions
(model/kernel.py) whose behaviour its encoding states and spec/comparisons.py compares;
`Theorem.not_compared` those it states that no comparison exercises. spec/agreement.py uses them to
judge a variant that overrides one.
"""

import ctypes
import threading
import time
from dataclasses import dataclass, field
from enum import Enum

import z3

from buddycheck.model.constants import ZONE_DMA, ZONE_DMA32, ZONE_HIGHMEM, ZONE_MOVABLE, ZONE_NAMES, ZONE_NORMAL

DEFAULT_TIMEOUT_S = 30.0


class Status(str, Enum):
    PROVED = "proved"
    REFUTED = "refuted"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class TheoremResult:
    """The outcome of proving one theorem.

    assumptions_satisfiable: True when Z3 found the assumptions satisfiable (the proof is not vacuous),
    False when they are unsatisfiable (then status is unknown), None when Z3 could not tell.
    counterexample: for a refutation, Z3's model decoded into readable values (which sub-claims fail,
    pfns, masks as node lists, ...); None otherwise. reason: Z3's reason for unknown, or a summary.
    """

    name: str
    params: dict
    status: Status
    seconds: float
    counterexample: dict | None = None
    reason: str = ""
    assumptions_satisfiable: bool | None = None

    @property
    def vacuity(self):
        """True when the assumptions are satisfiable, i.e. the vacuity check passed."""
        return self.assumptions_satisfiable is True

    @property
    def proved(self):
        return self.status is Status.PROVED

    def to_json(self):
        return {
            "name": self.name,
            "params": dict(self.params),
            "status": self.status.value,
            "seconds": round(self.seconds, 3),
            "counterexample": self.counterexample,
            "reason": self.reason,
            "vacuity": self.vacuity,
            "assumptions_satisfiable": self.assumptions_satisfiable,
        }


@dataclass
class Query:
    """One Z3 query: assumptions, the claim proved under them, and the terms that explain a counterexample.

    claims: named Boolean terms (their conjunction is the claim); witnesses: name -> (term, decoder),
    evaluated in a counterexample model and turned into readable values by decoder.
    """

    label: str
    assumptions: list
    claims: dict
    witnesses: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Theorem:
    """A named property with its parameters; build(**params) returns its queries."""

    name: str
    statement: str
    kernel: str
    build: object
    params: dict = field(default_factory=dict)
    # the kernel functions (registered names, model/kernel.py) whose behaviour the encoding states and
    # which spec/comparisons.py compares with it; a variant overriding one needs that comparison
    functions: tuple = ()
    # kernel functions the encoding also states but no comparison exercises: not proved for a variant
    # that overrides one
    not_compared: tuple = ()
    # the invariants (names from spec/invariants.py and spec/steps.py) whose statement this theorem proves
    # something about, for every input in its range; () where it backs none
    establishes: tuple = ()

    def prove(self, timeout_s=DEFAULT_TIMEOUT_S, **overrides):
        params = {**self.params, **overrides}
        try:
            return prove_queries(self.name, params, self.build(**params), timeout_s)
        except ctypes.ArgumentError as e:
            # a signal's KeyboardInterrupt raised while ctypes converted an argument of a Z3 call comes out
            # wrapped; it is the signal still, not a failure of the encoding
            if "KeyboardInterrupt" in str(e):
                raise KeyboardInterrupt from None
            raise


def _solver(assertions, remaining_s):
    """A fresh (non-incremental) solver: Z3 then picks its bit-blasting tactics for bit-vector queries."""
    s = z3.Solver()
    s.set("timeout", max(1, int(remaining_s * 1000)))
    s.add(*assertions)
    return s


# what Z3 gives as the reason of an unknown when Ctrl-C (which it catches itself while it solves) or
# Context.interrupt() stopped it
INTERRUPTED_REASONS = ("interrupted from keyboard", "canceled")
CHECK_POLL_S = 0.05  # how often the main thread looks for a signal while Z3 solves in its thread


def _check(s):
    """s.check(); a check stopped by a signal raises KeyboardInterrupt, so that the whole run stops, as it
    does for a signal outside Z3, instead of going on with this theorem unknown.

    Z3 catches Ctrl-C itself while it solves. Any other signal (SIGTERM) would wait for the check to end,
    since Python runs its handlers between bytecodes: the main thread therefore waits for the check in
    a thread of its own, and a KeyboardInterrupt raised by a handler meanwhile interrupts Z3's context.
    """
    if threading.current_thread() is not threading.main_thread():
        return _interrupted(s, s.check())
    outcome = []
    ended = threading.Event()

    def solve():
        try:
            outcome.append(_outcome(s.check))
        finally:
            ended.set()

    try:
        try:
            threading.Thread(target=solve, name="z3-check", daemon=True).start()
        except RuntimeError:  # no thread could be started: none to wait for
            ended.set()
            raise
        # short waits: a signal delivered to the solving thread does not wake this one, which must come
        # back to Python now and then for the handler to run
        while not ended.wait(CHECK_POLL_S):
            pass
    finally:
        _stop_and_wait(ended, s)
    result, error = outcome[0]
    if error is not None:
        raise error
    return _interrupted(s, result)


def _stop_and_wait(ended, s):
    """Return only once the solving thread has ended, however this thread leaves _check: Z3's context is
    not thread-safe, and the terms an exception frees as it unwinds would be freed while Z3 still uses
    them. The interrupt is repeated: one sent before Z3 entered its check is lost. (An Event, not
    Thread.join: in Python 3.11 a join interrupted by a signal can mark a running thread as ended.)"""
    while not ended.is_set():
        s.ctx.interrupt()
        try:
            ended.wait(CHECK_POLL_S)
        except BaseException:  # the signal again: the check is being stopped already
            pass


def _outcome(call):
    try:
        return call(), None
    except Exception as e:  # raised again in the calling thread
        return None, e


def _interrupted(s, result):
    if result == z3.unknown and s.reason_unknown() in INTERRUPTED_REASONS:
        raise KeyboardInterrupt
    return result


def undecided(theorems, decided, reason="interrupted (Ctrl-C or SIGTERM) before Z3 decided it"):
    """An unknown TheoremResult, with `reason`, for each of `theorems` not among the `decided` results."""
    done = {r.name for r in decided}
    return [TheoremResult(t.name, t.params, Status.UNKNOWN, 0.0, None, reason, None)
            for t in theorems if t.name not in done]


def prove_queries(name, params, queries, timeout_s=DEFAULT_TIMEOUT_S):
    """Prove every query; one TheoremResult (refuted beats unknown beats proved).

    For each query: the assumptions alone must be satisfiable (else the result is unknown: vacuous), then
    assumptions AND NOT claims must be unsatisfiable. A timeout or Z3 unknown is never a proof.
    """
    start = time.perf_counter()
    satisfiable = True
    unknown_reason = None

    def remaining():
        return timeout_s - (time.perf_counter() - start)

    for q in queries:
        if remaining() <= 0:
            unknown_reason = unknown_reason or f"{q.label}: the time limit of {timeout_s:g} s was reached"
            satisfiable = None if satisfiable else satisfiable
            break
        s = _solver(q.assumptions, remaining())
        vac = _check(s)
        if vac == z3.unsat:
            return TheoremResult(name, params, Status.UNKNOWN, time.perf_counter() - start, None,
                                 f"{q.label}: the assumptions are unsatisfiable, so a proof would be vacuous", False)
        if vac == z3.unknown:
            satisfiable = None
            unknown_reason = unknown_reason or f"{q.label}: vacuity check: {s.reason_unknown()}"
            continue
        s = _solver(list(q.assumptions) + [z3.Not(z3.And(list(q.claims.values())))], max(0.001, remaining()))
        r = _check(s)
        if r == z3.sat:
            cex = decode(s.model(), q)
            failed = ", ".join(cex["failed"]) or "the claim"
            return TheoremResult(name, params, Status.REFUTED, time.perf_counter() - start, cex,
                                 f"{q.label}: {failed} fails", satisfiable)
        if r == z3.unknown:
            unknown_reason = unknown_reason or f"{q.label}: {s.reason_unknown()}"
    seconds = time.perf_counter() - start
    if unknown_reason is not None:
        return TheoremResult(name, params, Status.UNKNOWN, seconds, None, unknown_reason, satisfiable)
    return TheoremResult(name, params, Status.PROVED, seconds, None,
                         f"{len(queries)} quer{'y' if len(queries) == 1 else 'ies'} unsat", True)


def decode(model, q):
    out = {"query": q.label, "failed": [n for n, c in q.claims.items()
                                        if not z3.is_true(model.eval(c, model_completion=True))]}
    for wname, (term, decoder) in q.witnesses.items():
        val = model.eval(term, model_completion=True)
        if z3.is_bv_value(val) or z3.is_int_value(val):
            val = val.as_long()
        elif z3.is_true(val) or z3.is_false(val):
            val = z3.is_true(val)
        out[wname] = decoder(val) if decoder else val
    return out


def hexval(v):
    return hex(v)


def bits_of(v):
    """The set bits of an integer, ascending."""
    out = []
    i = 0
    while v:
        if v & 1:
            out.append(i)
        v >>= 1
        i += 1
    return out


def short_bits(v, limit=16):
    b = bits_of(v)
    return b if len(b) <= limit else b[:limit] + [f"... ({len(b)} in all)"]


# ==== buddy arithmetic ==================================================================================
def find_buddy_pfn(pfn, order):
    """__find_buddy_pfn(): the buddy of the aligned block of 2^order pages at pfn is pfn xor 2^order."""
    return pfn ^ (z3.BitVecVal(1, pfn.size()) << order)


def build_buddy_arithmetic(max_order=11, width=64, find_buddy=find_buddy_pfn):
    pfn = z3.BitVec("pfn", width)
    order = z3.BitVec("order", width)
    one = z3.BitVecVal(1, width)
    size = one << order

    def aligned(x, o_size):
        return x & (o_size - 1) == 0

    def ext(x):
        return z3.ZeroExt(1, x)

    assumptions = [z3.ULT(order, max_order - 1), aligned(pfn, size)]
    buddy = find_buddy(pfn, order)
    merged = pfn & buddy  # combined_pfn of __free_one_page
    big = ext(size)
    claims = {
        "buddy is aligned": aligned(buddy, size),
        "buddy is distinct": buddy != pfn,
        "buddy of the buddy is the block": find_buddy(buddy, order) == pfn,
        "merged block aligned to order+1": aligned(merged, size << 1),
        "merged block contains both": z3.And(
            z3.ULE(ext(merged), ext(pfn)), z3.ULE(ext(pfn) + big, ext(merged) + 2 * big),
            z3.ULE(ext(merged), ext(buddy)), z3.ULE(ext(buddy) + big, ext(merged) + 2 * big)),
        "merged block is exactly the two halves": z3.Or(
            z3.And(merged == pfn, buddy == pfn + size), z3.And(merged == buddy, pfn == buddy + size)),
    }
    q1 = Query("buddy and merge", assumptions, claims,
               {"pfn": (pfn, hexval), "order": (order, None), "buddy": (buddy, hexval), "merged": (merged, hexval)})
    block = z3.BitVec("split_pfn", width)
    low, high = block, block + size  # expand(): the lower half stays, the upper half is listed
    split_assumptions = [z3.ULT(order, max_order - 1), aligned(block, size << 1)]
    split_claims = {
        "lower half aligned": aligned(low, size),
        "upper half aligned": aligned(high, size),
        "the halves are buddies": z3.And(find_buddy(low, order) == high, find_buddy(high, order) == low),
        "the halves merge back to the block": (low & high) == block,
    }
    q2 = Query("split", split_assumptions, split_claims,
               {"pfn": (block, hexval), "order": (order, None), "upper half": (high, hexval)})
    return [q1, q2]


# ==== split and merge on a symbolic zone ================================================================
class ZoneBits:
    """The state of one zone of n pages (pfn 0..n-1) as page-indexed bit-vectors, one per order and kind.

    free[k] bit p: a free block of order k starts at page p; alloc[k] likewise for allocated blocks.
    """

    def __init__(self, prefix, n, max_order):
        self.n = n
        self.max_order = max_order
        self.free = [z3.BitVec(f"{prefix}_free{k}", n) for k in range(max_order)]
        self.alloc = [z3.BitVec(f"{prefix}_alloc{k}", n) for k in range(max_order)]

    @classmethod
    def of(cls, n, max_order, free, alloc):
        self = cls.__new__(cls)
        self.n, self.max_order, self.free, self.alloc = n, max_order, list(free), list(alloc)
        return self


def _const(n, pred):
    return z3.BitVecVal(sum(1 << p for p in range(n) if pred(p)), n)


def zone_invariants(st):
    """no_overlap, conservation (as coverage), buddy_alignment (with containment), maximal_coalescing."""
    n, mo = st.n, st.max_order
    copies = []
    for sets in (st.free, st.alloc):
        for k, x in enumerate(sets):
            copies.extend(x << j for j in range(1 << k))
    disjoint = []  # pairwise disjoint <=> each copy misses the union of the copies before it
    cover = copies[0]
    for c in copies[1:]:
        disjoint.append(cover & c == 0)
        cover = cover | c
    aligned = []
    for k in range(mo):
        ok = _const(n, lambda p, k=k: p % (1 << k) == 0 and p + (1 << k) <= n)
        aligned.append(st.free[k] & ~ok == 0)
        aligned.append(st.alloc[k] & ~ok == 0)
    coalesced = []
    for k in range(mo - 1):
        lower = _const(n, lambda p, k=k: not (p >> k) & 1)
        coalesced.append(st.free[k] & z3.LShR(st.free[k], 1 << k) & lower == 0)
    return {
        "no_overlap": z3.And(disjoint),
        "conservation": cover == _const(n, lambda p: True),
        "buddy_alignment": z3.And(aligned),
        "maximal_coalescing": z3.And(coalesced) if coalesced else z3.BoolVal(True),
    }


def _bit(n, p):
    return z3.BitVecVal(1, n) << p


def _has(x, p):
    return z3.Extract(0, 0, z3.LShR(x, p)) == 1


def expand_transition(pre, post, p, low, high):
    """__rmqueue_smallest + expand: take the free block of order high at p, list its upper halves, allocate p."""
    n = pre.n
    cond = [z3.ULT(p, n), _has(pre.free[high], p)]
    for k in range(pre.max_order):
        f = pre.free[k]
        if k == high:
            f = f & ~_bit(n, p)
        if low <= k < high:
            f = f | _bit(n, p + (1 << k))
        a = pre.alloc[k] | _bit(n, p) if k == low else pre.alloc[k]
        cond.append(post.free[k] == f)
        cond.append(post.alloc[k] == a)
    return z3.And(cond)


def merge_combine(pfn, buddy):
    """combined_pfn = buddy_pfn & pfn."""
    return pfn & buddy


def free_transition(pre, post, p, order, combine=merge_combine, remove_buddy=True):
    """__free_pages_ok + __free_one_page: free the allocated block of order at p, merge with free buddies.

    The merge loop is unrolled: at order k it looks for a free buddy of order k (page_is_buddy; a buddy
    past the zone is never free) and, if found, takes it off its list and continues at order k+1 from
    the combined pfn; the block lands on the free list of the order where merging stopped.
    """
    n, mo = pre.n, pre.max_order
    cond = [z3.ULT(p, n), _has(pre.alloc[order], p)]
    free = list(pre.free)
    q = p
    live = z3.BoolVal(True)
    final = []  # (order, Bool: merging stopped at this order, pfn at that point)
    for k in range(order, mo - 1):
        buddy = q ^ (1 << k)
        merge = z3.And(live, z3.ULT(buddy, n), _has(free[k], buddy))
        final.append((k, z3.And(live, z3.Not(merge)), q))
        if remove_buddy:
            free[k] = z3.If(merge, free[k] & ~_bit(n, buddy), free[k])
        q = z3.If(merge, combine(q, buddy), q)
        live = merge
    final.append((mo - 1, live, q))
    for k in range(mo):
        add = z3.BitVecVal(0, n)
        for o, stop, at in final:
            if o == k:
                add = z3.If(stop, _bit(n, at), add)
        cond.append(post.free[k] == free[k] | add)
        a = pre.alloc[k] & ~_bit(n, p) if k == order else pre.alloc[k]
        cond.append(post.alloc[k] == a)
    return z3.And(cond)


def zone_blocks(value_sets, n):
    """Decode page-indexed bit-vector values into [(pfn, order), ...]."""
    out = []
    for k, v in enumerate(value_sets):
        out.extend((p, k) for p in bits_of(v) if p < n)
    return sorted(out)


def build_split_merge(zone_pages=64, max_order=4, combine=merge_combine, remove_buddy=True):
    n, mo = zone_pages, max_order
    queries = []
    pre = ZoneBits("pre", n, mo)
    post = ZoneBits("post", n, mo)
    pre_inv = zone_invariants(pre)
    post_inv = zone_invariants(post)
    p = z3.BitVec("p", n)

    def witnesses(label_extra):
        w = {
            "free blocks before": (z3.Concat(*reversed(pre.free)) if mo > 1 else pre.free[0],
                                   lambda v: zone_blocks(_split_concat(v, n, mo), n)),
            "allocated blocks before": (z3.Concat(*reversed(pre.alloc)) if mo > 1 else pre.alloc[0],
                                        lambda v: zone_blocks(_split_concat(v, n, mo), n)),
            "free blocks after": (z3.Concat(*reversed(post.free)) if mo > 1 else post.free[0],
                                  lambda v: zone_blocks(_split_concat(v, n, mo), n)),
            "pfn": (p, None),
        }
        w.update(label_extra)
        return w

    for high in range(mo):
        for low in range(high + 1):
            t = expand_transition(pre, post, p, low, high)
            queries.append(Query(f"split: order-{high} block allocated as order {low}",
                                 [z3.And(list(pre_inv.values())), t], dict(post_inv), witnesses({})))
    for order in range(mo):
        t = free_transition(pre, post, p, order, combine, remove_buddy)
        queries.append(Query(f"merge: free of an order-{order} block", [z3.And(list(pre_inv.values())), t],
                             dict(post_inv), witnesses({})))
    return queries


def _split_concat(v, n, mo):
    return [(v >> (k * n)) & ((1 << n) - 1) for k in range(mo)]


# ==== interleave fairness ===============================================================================
# Node masks are predicates over node positions: m(i) says node i is in the mask, for 0 <= i < MAX_NUMNODES.
# Proving over positions (integers with an uninterpreted mask) instead of over a 1024-bit vector keeps the
# proof independent of the width: one proof covers every MAX_NUMNODES up to the bound at once.

def forall_nodes(body):
    """A universally quantified statement over node positions (a Z3 ForAll)."""
    i = z3.Int("i")
    return z3.ForAll([i], body(i))


def next_node_in(c, r, m, w, forall=forall_nodes):
    """next_node_in(c, mask) == r, as a relation: r is the first node of the mask cyclically after c.

    The kernel's rule: the lowest node of the mask above c (find_next_bit), and if there is none the lowest
    node of the mask (find_first_bit). Equivalently: m(r), and either r > c with no node of the mask
    strictly between them, or r <= c with no node of the mask above c and none below r.
    forall builds the "no node of the mask in ..." statements (a ForAll in the theorem; tests pass one that
    enumerates the positions of a concrete mask).
    """
    def none_in(pred):
        return forall(lambda i: z3.Implies(z3.And(0 <= i, i < w, pred(i)), z3.Not(m(i))))

    return z3.And(0 <= r, r < w, m(r),
                  z3.Or(z3.And(c < r, none_in(lambda i: z3.And(c < i, i < r))),
                        z3.And(r <= c, none_in(lambda i: z3.Or(i > c, i < r)))))


def in_cyclic_interval(c, r, i):
    """Position i lies cyclically after c, up to and including r: (c, r]; every position when r == c."""
    return z3.If(c < r, z3.And(c < i, i <= r), z3.If(c == r, z3.BoolVal(True), z3.Or(i > c, i <= r)))


def build_interleave(max_numnodes=1024, next_node=next_node_in):
    w = z3.Int("MAX_NUMNODES")
    mask = z3.Function("mask", z3.IntSort(), z3.BoolSort())

    def m(i):
        return mask(i)

    def node(x):
        return z3.And(0 <= x, x < w)

    c, r, r1, r2, nxt, k0, j = z3.Ints("il_prev last choice other next some_node missing_node")
    common = [1 <= w, w <= max_numnodes, node(c), node(k0), m(k0)]
    witnesses = {"MAX_NUMNODES": (w, None), "il_prev": (c, None), "a node of the mask": (k0, None)}
    unique = Query(
        "next_node_in is a function",
        common + [next_node(c, r1, m, w), next_node(c, r2, m, w)],
        {"two results of next_node_in are equal": r1 == r2},
        {**witnesses, "one result": (r1, None), "another result": (r2, None)})
    base = Query(
        "first choice",
        common + [next_node(c, r1, m, w)],
        {"the choice is a node of the mask": z3.And(node(r1), m(r1)),
         "no other node of the mask lies cyclically between il_prev and the choice":
             forall_nodes(lambda i: z3.Implies(node(i), z3.And(m(i), in_cyclic_interval(c, r1, i)) == (i == r1)))},
        {**witnesses, "choice": (r1, None)})
    chosen = lambda i: z3.And(m(i), in_cyclic_interval(c, r, i))  # noqa: E731
    step = Query(
        "next choice",
        common + [node(r), m(r), node(j), m(j), z3.Not(in_cyclic_interval(c, r, j)), next_node(r, nxt, m, w)],
        {"the choice is a node of the mask": z3.And(node(nxt), m(nxt)),
         "the choice is new": z3.Not(chosen(nxt)),
         "the chosen set grows by exactly the choice":
             forall_nodes(lambda i: z3.Implies(node(i), z3.And(m(i), in_cyclic_interval(c, nxt, i))
                                               == z3.Or(chosen(i), i == nxt)))},
        {**witnesses, "last choice": (r, None), "a node not chosen yet": (j, None), "next choice": (nxt, None)})
    return [unique, base, step]


# ==== gfp_zone =========================================================================================
GFP_ZONES_SHIFT = 3  # enough bits for the model's five zone numbers
___GFP_DMA, ___GFP_HIGHMEM, ___GFP_DMA32, ___GFP_MOVABLE = 0x1, 0x2, 0x4, 0x8


def gfp_zone_table(has_dma, has_dma32, has_highmem):
    """GFP_ZONE_TABLE as include/linux/gfp.h packs it, with the OPT_ZONE_* choices as Z3 terms."""
    def zone(v):
        return z3.BitVecVal(v, 64)

    def opt(flag, z):
        return z3.If(flag, zone(z), zone(ZONE_NORMAL))

    entries = (
        (0, zone(ZONE_NORMAL)),
        (___GFP_DMA, opt(has_dma, ZONE_DMA)),
        (___GFP_HIGHMEM, opt(has_highmem, ZONE_HIGHMEM)),
        (___GFP_DMA32, opt(has_dma32, ZONE_DMA32)),
        (___GFP_MOVABLE, zone(ZONE_NORMAL)),
        (___GFP_MOVABLE | ___GFP_DMA, opt(has_dma, ZONE_DMA)),
        (___GFP_MOVABLE | ___GFP_HIGHMEM, zone(ZONE_MOVABLE)),
        (___GFP_MOVABLE | ___GFP_DMA32, opt(has_dma32, ZONE_DMA32)),
    )
    table = z3.BitVecVal(0, 64)
    for bit, z in entries:
        table = table | (z << (bit * GFP_ZONES_SHIFT))
    return table


GFP_ZONE_BAD = sum(1 << b for b in (
    ___GFP_DMA | ___GFP_HIGHMEM, ___GFP_DMA | ___GFP_DMA32, ___GFP_DMA32 | ___GFP_HIGHMEM,
    ___GFP_DMA | ___GFP_DMA32 | ___GFP_HIGHMEM, ___GFP_MOVABLE | ___GFP_HIGHMEM | ___GFP_DMA,
    ___GFP_MOVABLE | ___GFP_DMA32 | ___GFP_DMA, ___GFP_MOVABLE | ___GFP_DMA32 | ___GFP_HIGHMEM,
    ___GFP_MOVABLE | ___GFP_DMA32 | ___GFP_DMA | ___GFP_HIGHMEM))


def gfp_zone_lookup(bits, has_dma, has_dma32, has_highmem):
    """gfp_zone(): (GFP_ZONE_TABLE >> bits * GFP_ZONES_SHIFT) & mask, and whether GFP_ZONE_BAD flags bits.

    bits is a 64-bit term holding flags & GFP_ZONEMASK. Returns (zone, bad).
    """
    table = gfp_zone_table(has_dma, has_dma32, has_highmem)
    z = z3.LShR(table, bits * GFP_ZONES_SHIFT) & ((1 << GFP_ZONES_SHIFT) - 1)
    bad = z3.LShR(z3.BitVecVal(GFP_ZONE_BAD, 64), bits) & 1 == 1
    return z, bad


def build_gfp_zone(lookup=gfp_zone_lookup):
    bits = z3.BitVec("zone_bits", 64)
    has_dma, has_dma32, has_highmem = z3.Bools("has_dma has_dma32 has_highmem")
    z, bad = lookup(bits, has_dma, has_dma32, has_highmem)

    def b(flag):
        return bits & flag != 0

    nzone = z3.If(b(___GFP_DMA), 1, 0) + z3.If(b(___GFP_DMA32), 1, 0) + z3.If(b(___GFP_HIGHMEM), 1, 0)
    normal = z3.BitVecVal(ZONE_NORMAL, 64)

    def opt(flag, zone):
        return z3.If(flag, z3.BitVecVal(zone, 64), normal)

    requested = z3.If(b(___GFP_DMA), opt(has_dma, ZONE_DMA),
                      z3.If(b(___GFP_DMA32), opt(has_dma32, ZONE_DMA32),
                            z3.If(b(___GFP_HIGHMEM),
                                  z3.If(b(___GFP_MOVABLE), z3.BitVecVal(ZONE_MOVABLE, 64),
                                        opt(has_highmem, ZONE_HIGHMEM)),
                                  normal)))
    configured = z3.Or(z == ZONE_NORMAL, z == ZONE_MOVABLE, z3.And(z == ZONE_DMA, has_dma),
                       z3.And(z == ZONE_DMA32, has_dma32), z3.And(z == ZONE_HIGHMEM, has_highmem))
    claims = {
        "exactly the combinations with two or more of DMA, DMA32, HIGHMEM are flagged invalid": bad == (nzone >= 2),
        "a valid combination gives the highest zone it asks for": z3.Implies(z3.Not(bad), z == requested),
        "a valid combination gives a zone no higher than the highest it asks for":
            z3.Implies(z3.Not(bad), z3.ULE(z, requested)),
        "a valid combination gives a configured zone": z3.Implies(z3.Not(bad), configured),
    }
    q = Query("16 combinations x 8 configurations", [z3.ULT(bits, 16)], claims,
              {"zone bits": (bits, hexval), "has_dma": (has_dma, None), "has_dma32": (has_dma32, None),
               "has_highmem": (has_highmem, None), "zone": (z, _zone_name), "flagged invalid": (bad, None)})
    return [q]


def _zone_name(v):
    return ZONE_NAMES[v] if 0 <= v < len(ZONE_NAMES) else f"zone {v}"


# ==== nodemask_respect =================================================================================
def member(mask, node):
    """node (a narrow bit-vector) is set in mask (a MAX_NUMNODES-bit vector)."""
    w = mask.size()
    return z3.Extract(0, 0, z3.LShR(mask, z3.ZeroExt(w - node.size(), node))) == 1


NODE_BITS = 16
ZONE_BITS = 8


def zonelist_walk(entries, high, nodes, has_nodes):
    """for_each_zone_zonelist_nodemask over a zonelist of (node, zone_idx) entries, unrolled.

    __next_zones_zonelist skips entries above high or (with a nodemask) off the mask; the walk starts at
    index 0 and continues from one past each zone it yields; index len(entries) is the terminator.
    Returns (the cursor terms, one per possible iteration; the per-entry eligibility terms).
    """
    n = len(entries)
    eligible = [z3.And(z3.ULE(idx, high), z3.Or(z3.Not(has_nodes), member(nodes, node))) for node, idx in entries]
    end = z3.BitVecVal(n, ZONE_BITS)
    nxt = [end]
    for i in range(n - 1, -1, -1):
        nxt.insert(0, z3.If(eligible[i], z3.BitVecVal(i, ZONE_BITS), nxt[0]))

    def skip_from(s):
        term = end
        for i in range(n - 1, -1, -1):
            term = z3.If(s == i, nxt[i], term)
        return term

    cursors = [nxt[0]]
    for _ in range(n - 1):
        cursors.append(z3.If(z3.ULT(cursors[-1], n), skip_from(cursors[-1] + 1), end))
    return cursors, eligible


def select(terms, cursor, default):
    term = default
    for i in range(len(terms) - 1, -1, -1):
        term = z3.If(cursor == i, terms[i], term)
    return term


def build_zonelist_nodemask(max_numnodes=1024, zonelist_len=12, walk=zonelist_walk):
    w, n = max_numnodes, zonelist_len
    entries = [(z3.BitVec(f"node{i}", NODE_BITS), z3.BitVec(f"zone{i}", ZONE_BITS)) for i in range(n)]
    nodes = z3.BitVec("nodemask", w)
    has_nodes = z3.Bool("has_nodemask")
    high = z3.BitVec("high_zoneidx", ZONE_BITS)
    assumptions = [z3.ULT(high, 5)]
    for node, idx in entries:
        assumptions += [z3.ULT(node, w), z3.ULT(idx, 5)]
    cursors, _ = walk(entries, high, nodes, has_nodes)
    in_mask = [z3.Or(z3.Not(has_nodes), member(nodes, node)) for node, _ in entries]
    low_enough = [z3.ULE(idx, high) for _, idx in entries]
    yielded_ok = [z3.Implies(z3.ULT(c, n), z3.And(select(in_mask, c, z3.BoolVal(False)),
                                                  select(low_enough, c, z3.BoolVal(False))))
                  for c in cursors]
    complete = [z3.Implies(z3.And(in_mask[i], low_enough[i]), z3.Or([c == i for c in cursors])) for i in range(n)]
    increasing = [z3.Implies(z3.ULT(a, n), z3.ULT(a, b)) for a, b in zip(cursors, cursors[1:])]
    q = Query("zonelist iteration", assumptions,
              {"every zone yielded has its node in the nodemask and its index <= high_zoneidx": z3.And(yielded_ok),
               "every such zone is yielded": z3.And(complete),
               "zones are yielded once each, in zonelist order": z3.And(increasing)},
              {"nodemask": (nodes, short_bits), "has nodemask": (has_nodes, None), "high_zoneidx": (high, None),
               "zonelist": (z3.Concat(*[z3.Concat(a, b) for a, b in entries]),
                            lambda v: _decode_zonelist(v, n)),
               "cursors": (z3.Concat(*cursors), lambda v: _decode_cursors(v, n))})
    return [q]


def _decode_zonelist(v, n):
    out = []
    for i in range(n - 1, -1, -1):
        chunk = (v >> (i * (NODE_BITS + ZONE_BITS))) & ((1 << (NODE_BITS + ZONE_BITS)) - 1)
        out.append((chunk >> ZONE_BITS, _zone_name(chunk & 0xFF)))
    return out


def _decode_cursors(v, n):
    return [(v >> (i * ZONE_BITS)) & 0xFF for i in range(n - 1, -1, -1)]


MPOL_BIND = 2


def apply_policy_zone(pol_nodes, high_memory, policy_zone, zone):
    """apply_policy_zone(): BIND applies from policy_zone up, or only to ZONE_MOVABLE for movable-only nodes."""
    dyn = z3.If(pol_nodes & high_memory == 0, z3.BitVecVal(ZONE_MOVABLE, ZONE_BITS), policy_zone)
    return z3.UGE(zone, dyn)


def policy_nodemask(mode, pol_nodes, high_memory, policy_zone, zone, mems_allowed):
    """policy_nodemask(): (applies, mask); BIND's nodes when the zone is policied and they meet the cpuset."""
    applies = z3.And(mode == MPOL_BIND, apply_policy_zone(pol_nodes, high_memory, policy_zone, zone),
                     pol_nodes & mems_allowed != 0)
    return applies, pol_nodes


def fast_path_allows(node, has_mask, mask, cpusets, mems, in_interrupt, oom_victim):
    """prepare_alloc_pages + get_page_from_freelist: may the fast path take a zone of this node?

    With cpusets enabled, a missing nodemask becomes mems_allowed; a given one sets ALLOC_CPUSET and the
    zone loop asks __cpuset_zone_allowed with __GFP_HARDWALL added (interrupts and OOM victims pass).
    """
    cpuset_ok = z3.Or(in_interrupt, member(mems, node), oom_victim)
    return z3.If(cpusets,
                 z3.If(has_mask, z3.And(member(mask, node), cpuset_ok), member(mems, node)),
                 z3.Or(z3.Not(has_mask), member(mask, node)))


def build_policy_nodemask(max_numnodes=1024, policy=policy_nodemask):
    w = max_numnodes
    mode = z3.BitVec("mode", 8)
    pol_nodes = z3.BitVec("policy_nodes", w)
    mems = z3.BitVec("mems_allowed", w)
    high_memory = z3.BitVec("N_HIGH_MEMORY", w)
    policy_zone = z3.BitVec("policy_zone", ZONE_BITS)
    zone = z3.BitVec("gfp_zone", ZONE_BITS)
    node = z3.BitVec("node", NODE_BITS)
    cpusets, in_interrupt, oom_victim = z3.Bools("cpusets_enabled in_interrupt oom_victim")
    assumptions = [z3.ULT(mode, 5), z3.ULT(node, w), z3.ULT(zone, 5), z3.ULT(policy_zone, ZONE_MOVABLE),
                   z3.Implies(mode == MPOL_BIND, pol_nodes != 0)]
    applies, mask = policy(mode, pol_nodes, high_memory, policy_zone, zone, mems)
    allowed = fast_path_allows(node, applies, mask, cpusets, mems, in_interrupt, oom_victim)
    q = Query("policy_nodemask with cpusets, fast path", assumptions + [allowed],
              {"a BIND policy that applies confines the allocation to its nodes":
                   z3.Implies(applies, member(pol_nodes, node)),
               "a cpuset confines the allocation to mems_allowed (outside interrupts and OOM victims)":
                   z3.Implies(z3.And(cpusets, z3.Not(in_interrupt), z3.Not(oom_victim)), member(mems, node))},
              {"mode": (mode, None), "policy nodes": (pol_nodes, short_bits), "mems_allowed": (mems, short_bits),
               "N_HIGH_MEMORY": (high_memory, short_bits), "policy_zone": (policy_zone, _zone_name),
               "gfp_zone": (zone, _zone_name), "node": (node, None), "cpusets enabled": (cpusets, None),
               "in interrupt": (in_interrupt, None), "oom victim": (oom_victim, None)})
    return [q]


# ==== the catalogue ====================================================================================
THEOREMS = (
    Theorem("buddy_arithmetic",
            "for every pfn < 2^64 and order < MAX_ORDER-1: the buddy of an aligned block is aligned, distinct and "
            "its own buddy's buddy; the merged block (pfn & buddy) is aligned to order+1 and is exactly the two "
            "blocks; the halves of a split are aligned buddies that merge back",
            "__find_buddy_pfn (mm/internal.h), __free_one_page's combined_pfn, expand()",
            build_buddy_arithmetic, {"max_order": 11, "width": 64},
            ("__find_buddy_pfn", "expand", "__free_one_page"),
            establishes=("buddy_alignment",)),
    Theorem("split_merge_preserve",
            "for every state of a zone of the given size satisfying no_overlap, conservation, buddy_alignment and "
            "maximal_coalescing, taking any free block with expand() and freeing any allocated block with "
            "__free_one_page's merge loop give a state that satisfies all four again",
            "__rmqueue_smallest + expand(); __free_pages_ok + __free_one_page (no isolated pageblocks)",
            build_split_merge, {"zone_pages": 64, "max_order": 4},
            ("__rmqueue_smallest", "expand", "__free_one_page", "__find_buddy_pfn", "page_is_buddy"),
            establishes=("no_overlap", "conservation", "buddy_alignment", "maximal_coalescing")),
    Theorem("interleave_fairness",
            "for every nonempty nodemask of MAX_NUMNODES bits and every il_prev, next_node_in picks a node of the "
            "mask with no node of the mask cyclically between the cursor and it; so by induction the first j "
            "choices are the first j nodes of the mask cyclically after il_prev, and any |m| consecutive "
            "choices name each node of m exactly once",
            "interleave_nodes() with next_node_in() (include/linux/nodemask.h)",
            build_interleave, {"max_numnodes": 1024}, ("interleave_nodes",),
            establishes=("interleave_fairness",)),
    Theorem("zonelist_nodemask",
            "for every zonelist (node ids < MAX_NUMNODES), nodemask (or none) and high_zoneidx, the zonelist "
            "iterator yields exactly the zones whose index is <= high_zoneidx and whose node is in the mask, "
            "once each, in zonelist order",
            "__next_zones_zonelist (mm/mmzone.c), for_each_zone_zonelist_nodemask",
            build_zonelist_nodemask, {"max_numnodes": 1024, "zonelist_len": 12},
            ("__next_zones_zonelist", "first_zones_zonelist"),
            establishes=("zone_eligibility", "nodemask_respect")),
    Theorem("policy_nodemask_cpuset",
            "for every policy, policy nodemask, mems_allowed, N_HIGH_MEMORY, policy_zone and gfp zone, a node the "
            "fast path may allocate from is in the BIND nodes whenever policy_nodemask returns them, and in "
            "mems_allowed whenever cpusets are enabled (outside interrupts and OOM victims)",
            "policy_nodemask, apply_policy_zone (mm/mempolicy.c); prepare_alloc_pages, get_page_from_freelist, "
            "__cpuset_zone_allowed",
            build_policy_nodemask, {"max_numnodes": 1024},
            ("policy_nodemask", "apply_policy_zone", "cpuset_nodemask_valid_mems_allowed", "cpuset_zone_allowed",
             "__cpuset_zone_allowed", "__cpuset_node_allowed", "cpusets_enabled", "prepare_alloc_pages",
             "get_page_from_freelist"),
            establishes=("nodemask_respect",)),
    Theorem("gfp_zone_eligibility",
            "over all 16 combinations of the zone modifiers and all 8 configurations of DMA, DMA32 and HIGHMEM, "
            "GFP_ZONE_BAD flags exactly the combinations naming two or more of DMA, DMA32, HIGHMEM, and every "
            "other combination gets from GFP_ZONE_TABLE the highest zone it asks for (so no higher), a "
            "configured one",
            "gfp_zone(), GFP_ZONE_TABLE, GFP_ZONE_BAD (include/linux/gfp.h)",
            build_gfp_zone, {},  # gfp_zone() is a helper of model/gfp.py, not a kernel function to override
            establishes=("zone_eligibility",)),
)
THEOREMS_BY_NAME = {t.name: t for t in THEOREMS}


def prove_all(timeout_s=DEFAULT_TIMEOUT_S, names=None, on_result=None):
    """Prove every theorem (or those named), in catalogue order; `on_result(result)` hears of each as it is decided."""
    chosen = THEOREMS if names is None else [THEOREMS_BY_NAME[n] for n in names]
    results = []
    for t in chosen:
        results.append(t.prove(timeout_s))
        if on_result is not None:
            on_result(results[-1])
    return results
