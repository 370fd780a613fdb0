"""Free-list hygiene: the strict profile's rules on free lists, pageblock types and merging.

4.19 treats a free block's list as a hint: a fallback steals a block onto the requester's list without
retyping its pageblock, a per-cpu page goes back under the type cached when it was freed, a merge joins
blocks of any pageblock types but ISOLATE. Later kernels make the list type a fact. The 6.10 series by
Johannes Weiner ("mm: page_alloc: fix up block types when merging compatible blocks" e6cf9e1c4cde,
"... fix freelist movement during block conversion" c0cd6f557b90, "... close migratetype race between
freeing and stealing" 55612e80e722, "... set migratetype inside move_freepages()", "mm: page_isolation:
prepare for hygienic freelists", "mm: page_alloc: consolidate free page accounting" e0932b6c1f94, whose
__add_to_free_list/move_to_free_list/__del_page_from_free_list warn when
get_pageblock_migratetype(page) != migratetype), with "mm: page_alloc: fix highatomic typing in
multi-block buddies" 7cc5a5d65011, and the earlier merge refusal of "mm: page_alloc: avoid merging
non-fallbackable pageblocks with others" 1dd214b8f21c (5.18: __free_one_page stops at order >=
pageblock_order when migratetype != buddy_mt and either is not migratetype_is_mergeable, i.e. CMA,
HIGHATOMIC or ISOLATE).

The rules, all of the strict profile (4.19 breaks each; docs/invariants.md gives the shortest case):
- freelist_hygiene: a free block on the list of type T covers only pageblocks of type T;
- cma_highatomic_own_lists: a free block covering a CMA (HIGHATOMIC) pageblock is on the CMA
  (HIGHATOMIC) list, and a block on those lists covers only pageblocks of that type;
- no_mixed_merge: no free block spans pageblocks of two types that may not mix (they differ and one
  of them is CMA, HIGHATOMIC or ISOLATE): what merging across such types leaves behind;
- maximal_coalescing_strict: the merge duty as later kernels keep it (below pageblock_order; at and above,
  refused merges and their aftermath stay apart); it replaces maximal_coalescing for a model that
  declares the strict profile (checks/portfolio.py). 4.19 keeps it; it is strict because it is the
  rule a later kernel is judged by.

Transient states: the fixed kernels break freelist_hygiene only inside one zone->lock section (between
set_pageblock_migratetype and the move_freepages that follows it, before the buddy's pageblock is
retyped in a compatible merge, while expand() hands out halves), and a model operation runs such a
section whole, so none is visible between two operations. Per-cpu pages are not on a free list and are
judged by migratetype_consistency.
"""

import z3

from buddycheck.model.constants import MIGRATE_CMA, MIGRATE_HIGHATOMIC, MIGRATE_PCPTYPES

from .invariants import PROFILE_STRICT, MaximalCoalescing, StateInvariant
from .symbolic import bv
from .view import FREE, mt_name

OWN_LIST_TYPES = (MIGRATE_CMA, MIGRATE_HIGHATOMIC)


def migratetype_is_mergeable(mt):
    """migratetype_is_mergeable() (include/linux/mmzone.h, 5.18+): only the per-cpu types mix."""
    return 0 <= mt < MIGRATE_PCPTYPES


def may_mix(a, b):
    """Two pageblock types a merge may join: the same, or both mergeable (__free_one_page, 5.18+)."""
    return a == b or (migratetype_is_mergeable(a) and migratetype_is_mergeable(b))


def covered(view, pfn, order):
    """The pageblock indexes a block of 2^order pages at pfn covers."""
    pbo = view.pageblock_order
    return range(pfn >> pbo, ((pfn + (1 << order) - 1) >> pbo) + 1)


def pb_type(view, q):
    return view.pageblocks[q] if 0 <= q < len(view.pageblocks) else -1


def sym_covered(sym, slot):
    """For each pageblock index of the table, the Z3 term 'slot covers it'."""
    pbo = sym.shape.pageblock_order
    lo, hi = z3.LShR(slot.pfn, pbo), z3.LShR(slot.end - 1, pbo)
    return lo, hi, [z3.And(z3.ULE(lo, q), z3.ULE(q, hi)) for q in range(sym.shape.npageblocks)]


def sym_mergeable(mt):
    return z3.ULT(mt, MIGRATE_PCPTYPES)


class FreelistHygiene(StateInvariant):
    name = "freelist_hygiene"
    profile = PROFILE_STRICT
    meaning = "a free block on the list of migratetype T covers only pageblocks of type T"
    kernel = ("6.10+: __add_to_free_list, move_to_free_list and __del_page_from_free_list warn when "
              "get_pageblock_migratetype(page) != migratetype (e0932b6c1f94); steal_suitable_fallback either "
              "claims the whole block or takes only the request (c0cd6f557b90); freeing reads the pageblock "
              "type under zone->lock (55612e80e722); a compatible merge retypes the buddy's pageblock "
              "(e6cf9e1c4cde); multi-pageblock buddies are typed whole (7cc5a5d65011)")
    exceptions = (
        "4.19 breaks it: a fallback moves a single block (or a pageblock's free blocks) to the requester's list "
        "without retyping when too few pages are alike; per-cpu pages return under a stale cached type; merges "
        "join blocks of any mergeable types; expand() lists halves on the list the block came from",
        "the transient states of the fixed kernels (between a retype and the move that follows it, within one "
        "merge or one expand) lie inside one zone->lock section, hence inside one model operation",
    )

    def check(self, view):
        out = []
        for z in view.zones:
            for pfn, order, mt in z.free:
                for q in covered(view, pfn, order):
                    if pb_type(view, q) != mt:
                        out.append(self.violation(
                            f"free block at pfn {pfn} of order {order} on {z.label} is on the {mt_name(mt)} "
                            f"list but covers the {mt_name(pb_type(view, q))} pageblock at pfn "
                            f"{q << view.pageblock_order}", pfn=pfn, order=order))
                        break
        return out

    def encode(self, sym):
        npb = sym.shape.npageblocks
        terms = []
        for s in sym.slots:
            _, hi, cov = sym_covered(sym, s)
            ok = [z3.Implies(c, sym.pageblocks[q] == s.mt) for q, c in enumerate(cov)]
            ok.append(z3.Implies(z3.UGE(hi, npb), s.mt == bv(-1)))  # past the table the type reads as -1
            terms.append(z3.Implies(s.is_(FREE), z3.And(ok)))
        return z3.And(terms)


class CmaHighatomicOwnLists(StateInvariant):
    name = "cma_highatomic_own_lists"
    profile = PROFILE_STRICT
    meaning = ("a free block covering a CMA or HIGHATOMIC pageblock is on that type's list, and a block on the "
               "CMA or HIGHATOMIC list covers only pageblocks of that type")
    kernel = ("6.10+: freelist hygiene (freelist_hygiene) for the two types no fallback takes: free_pcppages_bulk "
              "and free_one_page re-read the pageblock type (55612e80e722, pcp caching removed), "
              "unreserve_highatomic_pageblock moves the free pages with the retype (move_freepages_block with "
              "old and new type), a HIGHATOMIC reserve of a multi-pageblock block types every pageblock "
              "(7cc5a5d65011), and 5.18's merge refusal keeps CMA and HIGHATOMIC blocks from joining others "
              "(1dd214b8f21c)")
    exceptions = (
        "4.19 breaks it: a page freed to a per-cpu list before its pageblock was reserved HIGHATOMIC (or "
        "unreserved) is drained under its stale cached type; a merge at pageblock_order joins a HIGHATOMIC or "
        "CMA block with a buddy of another type",
    )

    def _bad(self, list_mt, pb):
        return (list_mt in OWN_LIST_TYPES or pb in OWN_LIST_TYPES) and pb != list_mt

    def check(self, view):
        out = []
        for z in view.zones:
            for pfn, order, mt in z.free:
                for q in covered(view, pfn, order):
                    pb = pb_type(view, q)
                    if self._bad(mt, pb):
                        out.append(self.violation(
                            f"free block at pfn {pfn} of order {order} on {z.label} is on the {mt_name(mt)} "
                            f"list and covers the {mt_name(pb)} pageblock at pfn {q << view.pageblock_order}",
                            pfn=pfn, order=order))
                        break
        return out

    def encode(self, sym):
        npb = sym.shape.npageblocks
        terms = []
        for s in sym.slots:
            _, hi, cov = sym_covered(sym, s)
            own = z3.Or([s.mt == t for t in OWN_LIST_TYPES])
            ok = []
            for q, c in enumerate(cov):
                pb = sym.pageblocks[q]
                bad = z3.And(z3.Or(own, z3.Or([pb == t for t in OWN_LIST_TYPES])), pb != s.mt)
                ok.append(z3.Implies(c, z3.Not(bad)))
            ok.append(z3.Implies(z3.And(z3.UGE(hi, npb), own), s.mt == bv(-1)))
            terms.append(z3.Implies(s.is_(FREE), z3.And(ok)))
        return z3.And(terms)


class NoMixedMerge(StateInvariant):
    name = "no_mixed_merge"
    profile = PROFILE_STRICT
    meaning = ("no free block spans pageblocks of two types that may not mix: two different types one of which "
               "is CMA, HIGHATOMIC or ISOLATE")
    kernel = ("5.18+: __free_one_page at order >= pageblock_order goes to done_merging when migratetype != "
              "buddy_mt and !migratetype_is_mergeable() of either (1dd214b8f21c); stealing a larger block "
              "retypes all its pageblocks (change_pageblock_range), and isolation splits a free block that "
              "straddles the range (\"mm: page_isolation: prepare for hygienic freelists\")")
    exceptions = (
        "4.19 refuses only merges with an ISOLATE buddy, and only while the zone has isolated pageblocks: it "
        "joins a free HIGHATOMIC (or CMA) pageblock with a free buddy of another type",
        "stated on states, not on frees: a merge is the model's only way to make a free block span pageblocks "
        "of different types that stealing does not retype, so the state after a mixing free shows it; "
        "pageblocks past the table are ignored (zone_containment judges such blocks)",
    )

    def check(self, view):
        out = []
        for z in view.zones:
            for pfn, order, mt in z.free:
                types = [view.pageblocks[q] for q in covered(view, pfn, order) if 0 <= q < len(view.pageblocks)]
                bad = next(((a, b) for a in types for b in types if not may_mix(a, b)), None)
                if bad is not None:
                    out.append(self.violation(
                        f"free block at pfn {pfn} of order {order} on {z.label} ({mt_name(mt)} list) spans a "
                        f"{mt_name(bad[0])} and a {mt_name(bad[1])} pageblock, which may not merge",
                        pfn=pfn, order=order))
        return out

    def encode(self, sym):
        terms = []
        for s in sym.slots:
            lo, _, cov = sym_covered(sym, s)
            first = sym.pageblock_mt(s.pfn)
            differ = z3.Or([z3.And(c, sym.pageblocks[q] != first) for q, c in enumerate(cov)] or [z3.BoolVal(False)])
            unmixable = z3.Or([z3.And(c, z3.Not(sym_mergeable(sym.pageblocks[q]))) for q, c in enumerate(cov)]
                              or [z3.BoolVal(False)])
            terms.append(z3.Implies(s.is_(FREE), z3.Not(z3.And(differ, unmixable))))
        return z3.And(terms)


class MaximalCoalescingStrict(MaximalCoalescing):
    """maximal_coalescing as later kernels keep it: required below pageblock_order only."""

    name = "maximal_coalescing_strict"
    profile = PROFILE_STRICT
    replaces = "maximal_coalescing"
    meaning = ("no two free buddies of the same order below pageblock_order sit on the free lists of one zone; "
               "at and above pageblock_order the later kernel may keep free buddies apart")
    kernel = MaximalCoalescing.kernel + ("; 5.18+ (1dd214b8f21c): at order >= pageblock_order, no merge when "
                                         "migratetype != buddy_mt and either is not migratetype_is_mergeable, and "
                                         "unreserve_highatomic_pageblock retypes such a refused block and moves it "
                                         "without merging")
    exceptions = MaximalCoalescing.exceptions + (
        "buddies of order >= pageblock_order may both be free: the later kernel refuses to merge types that may "
        "not mix (1dd214b8f21c), and when the reserve is given back (unreserve_highatomic_pageblock, "
        "move_freepages_block) the two stay apart although their types now mix, until one is allocated. A state "
        "cannot tell that aftermath from a merge the kernel missed, so the rule requires merging below "
        "pageblock_order only; no_mixed_merge forbids the merges the later kernel refuses. A model declaring the "
        "strict profile is judged by this rule instead of maximal_coalescing (4.19 keeps both)",
    )

    def _excused(self, view, z, pfn, buddy, order):
        return order >= view.pageblock_order

    def encode(self, sym):
        sh = sym.shape
        terms = []
        s = sym.slots
        for i in range(len(s)):
            a = s[i]
            can_merge = z3.And(a.is_(FREE), z3.ULT(a.order, sh.max_order - 1))
            for j in range(i + 1, len(s)):
                b = s[j]
                pair = z3.And(can_merge, b.is_(FREE), a.zone == b.zone, a.order == b.order, b.pfn == a.pfn ^ a.pages)
                terms.append(z3.Implies(pair, z3.UGE(a.order, sh.pageblock_order)))
        return z3.And(terms) if terms else z3.BoolVal(True)


HYGIENE_INVARIANTS = (FreelistHygiene(), CmaHighatomicOwnLists(), NoMixedMerge(), MaximalCoalescingStrict())

__all__ = ["HYGIENE_INVARIANTS", "may_mix", "migratetype_is_mergeable"]
