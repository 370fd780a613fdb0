"""The invariant catalogue: state invariants, each a fast concrete check and a Z3 encoding.

A `StateInvariant` has a `name`, a one-line `meaning`, the kernel source
that makes it true (`kernel`), the places where 4.19 deliberately departs
from the plain statement (`exceptions`), a concrete `check(view)` returning
a list of `Violation`s, and `encode(sym)` returning a z3.BoolRef over a
`SymView` (spec/symbolic.py) that is true exactly when `check` returns no
violation. tests/test_invariant_agreement.py holds the two to that.

Preconditions shared by the isolation clauses (free_accounting's
NR_FREE_PAGES and nr_isolate_pageblock, migratetype_consistency's ISOLATE
rules): zone boundaries lie on pageblock boundaries, and isolation ranges
are aligned to MAX_ORDER_NR_PAGES, as 4.19's callers guarantee
(alloc_contig_range() widens its range with pfn_max_align_down/up, memory
offlining works on whole sections). start_isolate_page_range() itself only
insists on pageblock alignment; with narrower ranges 4.19 can leave a
larger free block straddling an isolated pageblock, hand out and re-merge
its pages, and NR_FREE_PAGES drifts (tests/test_invariants.py shows the
sequence). The other invariants hold without preconditions.

The step invariants (about one allocation) are in spec/steps.py.
"""

from functools import lru_cache

import z3

from buddycheck.model.constants import (
    MIGRATE_CMA,
    MIGRATE_HIGHATOMIC,
    MIGRATE_ISOLATE,
    MIGRATE_MOVABLE,
    MIGRATE_PCPTYPES,
)

from .config_invariants import encode as encode_config
from .config_invariants import violations as config_violations
from .symbolic import ZoneSpan, bindings, bv, evaluate, pageblock_zones, shape_of, sym_view
from .view import FREE, PCP, mt_name
from .violation import Violation

PROFILE_419, PROFILE_STRICT = "4.19", "strict"
PROFILES = (PROFILE_419, PROFILE_STRICT)


class StateInvariant:
    """Base of the state invariants; subclasses fill in the texts, check() and encode().

    profile: "4.19" for a rule 4.19 keeps in every reachable state; "strict" for a rule later kernels
    keep and 4.19 breaks in some states (docs/invariants.md gives 4.19's counterexample). A strict rule
    is judged against a base model: a variant breaking it where its base keeps it has regressed.
    """

    name = ""
    meaning = ""
    kernel = ""
    exceptions = ()
    profile = PROFILE_419

    def check(self, view):
        raise NotImplementedError

    def encode(self, sym):
        raise NotImplementedError

    def holds(self, view):
        return not self.check(view)

    def encoded(self, shape):
        """encode() over the SymView of shape, built once per invariant and shape."""
        return _encoding(self, shape)

    def z3_holds(self, view, shape=None):
        """The verdict of the Z3 encoding on a concrete view: its formula with every variable fixed to the view."""
        shape = shape_of(view) if shape is None else shape
        return evaluate(self.encoded(shape), bindings(sym_view(shape), view))

    def violation(self, message, **values):
        return Violation(self.name, message, values=values)

    def __repr__(self):
        return f"<invariant {self.name}>"


@lru_cache(maxsize=128)
def _encoding(invariant, shape):
    return invariant.encode(sym_view(shape))


def pages(order):
    return 1 << order


# ---- no_overlap -------------------------------------------------------------------------------------
class NoOverlap(StateInvariant):
    name = "no_overlap"
    meaning = "no page is in two blocks, counting free lists, per-cpu lists and allocated blocks, over every zone"
    kernel = ("a page is in exactly one place: PageBuddy on one free list (__free_one_page, expand), on one "
              "per-cpu list (free_unref_page_commit, rmqueue_bulk), or allocated with a reference (prep_new_page)")
    exceptions = ()

    def check(self, view):
        blocks = sorted(view.blocks(), key=lambda b: (b.pfn, -b.order))
        out = []
        reach = None  # the earlier block reaching furthest
        for b in blocks:
            if reach is not None and b.pfn < reach.end:
                out.append(self.violation(
                    f"{view.describe_block(b)} overlaps {view.describe_block(reach)}",
                    pfn=b.pfn, other=reach.pfn))
            if reach is None or b.end > reach.end:
                reach = b
        return out

    def encode(self, sym):
        s = sym.slots
        terms = []
        for i in range(len(s)):
            for j in range(i + 1, len(s)):
                a, b = s[i], s[j]
                terms.append(z3.Not(z3.And(a.present, b.present, z3.ULT(a.pfn, b.end), z3.ULT(b.pfn, a.end))))
        return z3.And(terms) if terms else z3.BoolVal(True)


# ---- conservation -----------------------------------------------------------------------------------
class Conservation(StateInvariant):
    name = "conservation"
    meaning = "free + per-cpu + allocated pages equal each zone's managed pages"
    kernel = ("boot frees exactly the managed pages into buddy (__free_pages_memory); every later step moves "
              "pages between buddy, per-cpu lists and allocations without creating or losing any")
    exceptions = ("an allocated block counts for the zone of its head pfn (page_zone)",)

    def check(self, view):
        totals = [0] * len(view.zones)
        for b in view.blocks():
            if b.zone is not None:
                totals[b.zone] += pages(b.order)
        out = []
        for z, total in zip(view.zones, totals):
            if total != z.managed:
                free = sum(pages(o) for _, o, _ in z.free)
                out.append(self.violation(
                    f"{z.label} holds {total} pages in blocks ({free} free, {len(z.pcp)} per-cpu, "
                    f"{total - free - len(z.pcp)} allocated) but manages {z.managed}",
                    zone=z.label, total=total, managed=z.managed))
        return out

    def encode(self, sym):
        terms = []
        for zi, zs in enumerate(sym.shape.zones):
            total = bv(0)
            for s in sym.slots:
                total = total + z3.If(z3.And(s.present, sym.holder(s) == zi), s.pages, bv(0))
            terms.append(total == zs.managed)
        return z3.And(terms) if terms else z3.BoolVal(True)


# ---- buddy_alignment --------------------------------------------------------------------------------
class BuddyAlignment(StateInvariant):
    name = "buddy_alignment"
    meaning = "a block of order k (k < MAX_ORDER) starts at a pfn that is a multiple of 2^k"
    kernel = ("__free_one_page merges to pfn & buddy_pfn, expand splits at page + size, and allocations "
              "hand out the head of an aligned block; __alloc_pages_slowpath refuses order >= MAX_ORDER")
    exceptions = ()

    def check(self, view):
        out = []
        for b in view.blocks():
            if b.order >= view.max_order:
                out.append(self.violation(
                    f"{view.describe_block(b)} has order {b.order}, not below MAX_ORDER {view.max_order}",
                    pfn=b.pfn, order=b.order))
            elif b.pfn % pages(b.order):
                where = "in no zone" if b.zone is None else f"on {view.zones[b.zone].label}"
                out.append(self.violation(
                    f"block at pfn {b.pfn} of order {b.order} {where} is not aligned to {pages(b.order)} pages",
                    pfn=b.pfn, order=b.order))
        return out

    def encode(self, sym):
        terms = []
        for s in sym.slots:
            ok = z3.And(z3.ULT(s.order, sym.shape.max_order), s.pfn & (s.pages - 1) == 0)
            terms.append(z3.Implies(s.present, ok))
        return z3.And(terms)


# ---- zone_containment -------------------------------------------------------------------------------
class ZoneContainment(StateInvariant):
    name = "zone_containment"
    meaning = "every block lies wholly inside the managed pages of the zone that holds it"
    kernel = ("page_is_buddy() merges only within one zone (page_zone_id); boot frees only managed pages; "
              "expand() splits inside the block; per-cpu lists hold pages of their own zone")
    exceptions = ("the holding zone of a free or per-cpu block is the zone whose list holds it; of an allocated "
                  "block, the zone of its head pfn (an allocated head in no zone is a violation)",)

    def check(self, view):
        out = []
        for b in view.blocks():
            if b.zone is None:
                out.append(self.violation(f"{view.describe_block(b)}: the pfn lies in no zone", pfn=b.pfn))
                continue
            z = view.zones[b.zone]
            if not (z.start_pfn <= b.pfn and b.end <= z.managed_end):
                out.append(self.violation(
                    f"{view.describe_block(b)} spans pfn {b.pfn}..{b.end - 1}, outside the zone's managed "
                    f"pages {z.start_pfn}..{z.managed_end - 1}", pfn=b.pfn, order=b.order, zone=z.label))
        return out

    def encode(self, sym):
        terms = []
        for s in sym.slots:
            h = sym.holder(s)
            inside = z3.BoolVal(False)
            for zi, zs in enumerate(sym.shape.zones):
                inside = z3.Or(inside, z3.And(h == zi, z3.UGE(s.pfn, bv(zs.start_pfn)),
                                              z3.ULE(s.end, bv(zs.managed_end)), z3.UGT(s.end, s.pfn)))
            terms.append(z3.Implies(s.present, inside))
        return z3.And(terms)


# ---- maximal_coalescing -----------------------------------------------------------------------------
class MaximalCoalescing(StateInvariant):
    name = "maximal_coalescing"
    meaning = "no two free buddies of the same order both sit on the free lists of one zone"
    kernel = ("__free_one_page merges a freed block with its free buddy (page_is_buddy: PageBuddy, same order, "
              "same zone) until no buddy is free; expand() lists only halves whose buddy is being allocated")
    exceptions = (
        "no merge across zones: a buddy in another zone (or past the zone) never counts (page_is_buddy's zone test)",
        "blocks of order MAX_ORDER-1 have no buddy",
        "pages on per-cpu lists are not free in buddy, so a free page whose buddy is on a per-cpu list is fine",
        "while the zone has isolated pageblocks (nr_isolate_pageblock > 0), buddies of order >= pageblock_order "
        "stay apart when either lies in an ISOLATE pageblock: __free_one_page refuses such a merge, "
        "and set_migratetype_isolate moves free blocks without merging, so even two "
        "ISOLATE buddies can sit side by side until unset_migratetype_isolate frees them again",
    )

    def _excused(self, view, z, pfn, buddy, order):
        return (order >= view.pageblock_order and z.nr_isolate_pageblock != 0
                and MIGRATE_ISOLATE in (view.pageblock_mt(pfn), view.pageblock_mt(buddy)))

    def check(self, view):
        out = []
        for z in view.zones:
            free = {}
            for pfn, order, mt in z.free:
                free.setdefault((pfn, order), mt)
            for pfn, order, mt in z.free:
                if order >= view.max_order - 1:
                    continue
                buddy = pfn ^ pages(order)
                if buddy <= pfn or (buddy, order) not in free:
                    continue
                if self._excused(view, z, pfn, buddy, order):
                    continue
                out.append(self.violation(
                    f"free blocks at pfn {pfn} ({mt_name(mt)} list) and pfn {buddy} "
                    f"({mt_name(free[(buddy, order)])} list) of order {order} on {z.label} are buddies and "
                    f"both free", pfn=pfn, buddy=buddy, order=order, zone=z.label))
        return out

    def encode(self, sym):
        sh = sym.shape
        terms = []
        s = sym.slots
        iso_zone = [z3.Or([z3.And(a.zone == zi, sz.nr_isolate_pageblock != 0) for zi, sz in enumerate(sym.zones)]
                          or [z3.BoolVal(False)]) for a in s]
        iso_pb = [sym.pageblock_mt(a.pfn) == MIGRATE_ISOLATE for a in s]
        can_merge = [z3.And(a.is_(FREE), z3.ULT(a.order, sh.max_order - 1)) for a in s]
        buddy = [a.pfn ^ a.pages for a in s]
        excusable = [z3.And(z3.UGE(a.order, sh.pageblock_order), iso_zone[i]) for i, a in enumerate(s)]
        for i in range(len(s)):
            a = s[i]
            for j in range(i + 1, len(s)):
                b = s[j]
                pair = z3.And(can_merge[i], b.is_(FREE), a.zone == b.zone, a.order == b.order, b.pfn == buddy[i])
                terms.append(z3.Implies(pair, z3.And(excusable[i], z3.Or(iso_pb[i], iso_pb[j]))))
        return z3.And(terms) if terms else z3.BoolVal(True)


# ---- free_accounting --------------------------------------------------------------------------------
class FreeAccounting(StateInvariant):
    name = "free_accounting"
    meaning = ("each zone counter equals what it counts: nr_free per order = free blocks of that order, "
               "NR_FREE_PAGES = pages on the non-ISOLATE lists, NR_FREE_CMA_PAGES = pages on the CMA lists, "
               "pcp count = pages on that CPU's lists, nr_isolate_pageblock = the zone's ISOLATE pageblocks")
    kernel = ("__free_one_page and the list helpers keep nr_free; __mod_zone_freepage_state is skipped for "
              "ISOLATE frees and set/unset_migratetype_isolate move the pages they retype out of/into "
              "NR_FREE_PAGES; rmqueue_bulk and rmqueue subtract what they take; per-cpu pages are not free "
              "in NR_FREE_PAGES; set/unset_migratetype_isolate keep nr_isolate_pageblock")
    exceptions = (
        "pages on per-cpu lists are in no NR_FREE counter",
        "NR_FREE_PAGES and nr_isolate_pageblock are exact only under the isolation preconditions of the module "
        "docstring (pageblock-aligned zones, MAX_ORDER-aligned isolation ranges, as 4.19's callers ensure)",
        "NR_FREE_CMA_PAGES is exact only when CMA areas are MAX_ORDER-aligned (cma_init_reserved_mem requires "
        "it): a CMA block merged with a non-CMA buddy lands on the CMA list with only its own pages counted",
        "nr_reserved_highatomic is not checked against the HIGHATOMIC pageblocks: 4.19 does not keep them equal "
        "(isolating a HIGHATOMIC pageblock retypes it without giving the reserve back, and stealing a "
        "larger-than-pageblock block retypes the pageblocks it covers)",
    )

    def _pageblock_counts(self, view):
        table = pageblock_zones(tuple(ZoneSpan(z.start_pfn, z.end_pfn) for z in view.zones),
                                view.pageblock_order, len(view.pageblocks))
        counts = [0] * len(view.zones)
        for i, mt in enumerate(view.pageblocks):
            if mt == MIGRATE_ISOLATE:
                zi = table[i]
                if zi is not None:
                    counts[zi] += 1
        return counts

    def check(self, view):
        out = []
        iso_counts = self._pageblock_counts(view)
        for zi, z in enumerate(view.zones):
            for o in range(view.max_order):
                n = sum(1 for _, order, _ in z.free if order == o)
                have = z.nr_free[o] if o < len(z.nr_free) else 0
                if have != n:
                    out.append(self.violation(f"{z.label}: nr_free[{o}] = {have} but {n} blocks of order {o} "
                                              f"are on its free lists", zone=z.label, order=o))
            nfp = sum(pages(o) for _, o, mt in z.free if mt != MIGRATE_ISOLATE)
            if z.nr_free_pages != nfp:
                out.append(self.violation(f"{z.label}: NR_FREE_PAGES = {z.nr_free_pages} but {nfp} pages are on "
                                          f"its non-Isolate free lists", zone=z.label))
            cma = sum(pages(o) for _, o, mt in z.free if mt == MIGRATE_CMA)
            if z.nr_free_cma_pages != cma:
                out.append(self.violation(f"{z.label}: NR_FREE_CMA_PAGES = {z.nr_free_cma_pages} but {cma} pages "
                                          f"are on its CMA free lists", zone=z.label))
            for cpu, count in z.pcp_counts:
                n = sum(1 for c, _, _, _ in z.pcp if c == cpu)
                if count != n:
                    out.append(self.violation(f"{z.label}: cpu {cpu} pcp count = {count} but {n} pages are on its "
                                              f"per-cpu lists", zone=z.label, cpu=cpu))
            if z.nr_isolate_pageblock != iso_counts[zi]:
                out.append(self.violation(f"{z.label}: nr_isolate_pageblock = {z.nr_isolate_pageblock} but "
                                          f"{iso_counts[zi]} of its pageblocks are Isolate", zone=z.label))
        return out

    def encode(self, sym):
        sh = sym.shape
        terms = []
        for zi, sz in enumerate(sym.zones):
            mine_free = [(s, z3.And(s.is_(FREE), s.zone == zi)) for s in sym.slots]
            for o in range(sh.max_order):
                n = bv(0)
                for s, c in mine_free:
                    n = n + z3.If(z3.And(c, s.order == o), bv(1), bv(0))
                terms.append(sz.nr_free[o] == n)
            nfp = bv(0)
            cma = bv(0)
            for s, c in mine_free:
                nfp = nfp + z3.If(z3.And(c, s.mt != MIGRATE_ISOLATE), s.pages, bv(0))
                cma = cma + z3.If(z3.And(c, s.mt == MIGRATE_CMA), s.pages, bv(0))
            terms.append(sz.nr_free_pages == nfp)
            terms.append(sz.nr_free_cma_pages == cma)
            for cpu, var in sz.pcp_count.items():
                n = bv(0)
                for s in sym.slots:
                    n = n + z3.If(z3.And(s.is_(PCP), s.zone == zi, s.cpu == cpu), bv(1), bv(0))
                terms.append(var == n)
            iso = bv(0)
            for i, pb in enumerate(sym.pageblocks):
                if sh.pageblock_zone(i) == zi:
                    iso = iso + z3.If(pb == MIGRATE_ISOLATE, bv(1), bv(0))
            terms.append(sz.nr_isolate_pageblock == iso)
        return z3.And(terms) if terms else z3.BoolVal(True)


# ---- highatomic_accounting --------------------------------------------------------------------------
class HighatomicAccounting(StateInvariant):
    name = "highatomic_accounting"
    meaning = "nr_reserved_highatomic >= pageblock_nr_pages x the zone's HIGHATOMIC pageblocks"
    kernel = ("reserve_highatomic_pageblock() adds pageblock_nr_pages exactly when it retypes a pageblock to "
              "HIGHATOMIC (the only place that does); unreserve_highatomic_pageblock() takes them off only when "
              "the pageblock it retypes is still HIGHATOMIC (4855e4a7f29d); steal_suitable_fallback() never "
              "claims a HIGHATOMIC pageblock (88ed365ea227)")
    exceptions = (
        "only the lower bound holds in 4.19: isolating a HIGHATOMIC pageblock, or stealing a free block larger "
        "than a pageblock, retypes HIGHATOMIC pageblocks without giving their reserve back",
    )

    @staticmethod
    def highatomic_blocks(view):
        """HIGHATOMIC pageblocks per zone (a pageblock belongs to the zone that holds its first pfn)."""
        table = pageblock_zones(tuple(ZoneSpan(z.start_pfn, z.end_pfn) for z in view.zones),
                                view.pageblock_order, len(view.pageblocks))
        blocks = [0] * len(view.zones)
        for i, mt in enumerate(view.pageblocks):
            if mt == MIGRATE_HIGHATOMIC and table[i] is not None:
                blocks[table[i]] += 1
        return blocks

    def bad(self, reserved, want):
        return reserved < want

    def check(self, view):
        nr = 1 << view.pageblock_order
        out = []
        for z, blocks in zip(view.zones, self.highatomic_blocks(view)):
            want = nr * blocks
            if self.bad(z.nr_reserved_highatomic, want):
                out.append(self.violation(
                    f"{z.label}: nr_reserved_highatomic = {z.nr_reserved_highatomic} but it has {blocks} HighAtomic "
                    f"pageblock(s) of {nr} pages (needs {self.relation} {want})",
                    zone=z.label, reserved=z.nr_reserved_highatomic, blocks=blocks))
        return out

    relation = ">="

    def encode(self, sym):
        sh = sym.shape
        nr = 1 << sh.pageblock_order
        terms = []
        for zi, sz in enumerate(sym.zones):
            count = bv(0)
            for i, pb in enumerate(sym.pageblocks):
                if sh.pageblock_zone(i) == zi:
                    count = count + z3.If(pb == MIGRATE_HIGHATOMIC, bv(1), bv(0))
            terms.append(self.holds_encoded(sz.nr_reserved_highatomic, count * nr))
        return z3.And(terms) if terms else z3.BoolVal(True)

    @staticmethod
    def holds_encoded(reserved, want):
        return reserved >= want  # signed, as the kernel's long counters


# ---- highatomic_reserve_exact -----------------------------------------------------------------------
class HighatomicReserveExact(HighatomicAccounting):
    """highatomic_accounting with equality: the reserve counts exactly the HIGHATOMIC pageblocks."""

    name = "highatomic_reserve_exact"
    profile = PROFILE_STRICT  # 4.19 breaks it in reachable states (see exceptions)
    meaning = "nr_reserved_highatomic = pageblock_nr_pages x the zone's HIGHATOMIC pageblocks"
    kernel = (HighatomicAccounting.kernel + "; nothing else changes nr_reserved_highatomic or retypes a "
              "pageblock to or from HIGHATOMIC, so without the exceptions the two move together")
    exceptions = (
        "4.19 keeps the equality only while no HIGHATOMIC pageblock is isolated (set_migratetype_isolate "
        "retypes it without giving its reserve back) and no free block larger than a pageblock covers a "
        "HIGHATOMIC pageblock it does not start in (steal_suitable_fallback's change_pageblock_range retypes "
        "every pageblock such a block covers); a state reached that way fails this invariant in 4.19 itself "
        "and still satisfies highatomic_accounting. The portfolio's highatomic-two-reserves reaches such a "
        "state in 4 operations (docs/invariants.md), so the rule is in the strict profile",)
    relation = "="

    def bad(self, reserved, want):
        return reserved != want

    @staticmethod
    def holds_encoded(reserved, want):
        return reserved == want


# ---- migratetype_consistency ------------------------------------------------------------------------
def pcp_list_ok(lst, cached):
    """The per-cpu rule: a page sits on the list of its cached type; HIGHATOMIC and CMA pages ride MOVABLE."""
    if not 0 <= lst < MIGRATE_PCPTYPES or cached == MIGRATE_ISOLATE:
        return False
    return cached == lst or (lst == MIGRATE_MOVABLE and cached in (MIGRATE_HIGHATOMIC, MIGRATE_CMA))


class MigratetypeConsistency(StateInvariant):
    name = "migratetype_consistency"
    meaning = ("isolation is watertight and per-cpu pages sit on their cached type's list: a free block on the "
               "ISOLATE list starts in an ISOLATE pageblock, a free block that covers an ISOLATE pageblock is on "
               "the ISOLATE list, no per-cpu page lies in an ISOLATE pageblock, and a per-cpu page's list is its "
               "cached migratetype (MOVABLE for a cached HIGHATOMIC or CMA page)")
    kernel = ("set_migratetype_isolate retypes the pageblock, moves its free blocks to the ISOLATE list and "
              "drains the per-cpu lists; free_unref_page sends ISOLATE pages straight to buddy; free_one_page and "
              "free_pcppages_bulk re-read the pageblock while the zone has isolated blocks; __rmqueue never takes "
              "from the ISOLATE list; free_unref_page_commit and rmqueue_bulk pick the per-cpu list")
    exceptions = (
        "outside ISOLATE, a free block need NOT sit on its pageblock's list, because 4.19 lets them differ: "
        "a fallback steal moves a single block (or a whole pageblock's free blocks) to the requester's list "
        "without retyping the pageblock when too few pages are alike (steal_suitable_fallback); a per-cpu "
        "page is freed to buddy under the type cached when it was freed, and the pageblock may have been "
        "retyped since (free_pcppages_bulk); a merged block goes to the freed page's list although the "
        "absorbed buddies sat elsewhere, and past pageblock_order the head can lie in another pageblock; "
        "expand() lists the halves of a larger-than-pageblock block on the list it came from, whatever "
        "their pageblocks are; reserve_highatomic_pageblock moves blocks whose head is in the pageblock, "
        "including larger-than-pageblock ones",
        "the ISOLATE rules hold under the isolation preconditions of the module docstring; with narrower "
        "isolation ranges a free block straddling the new ISOLATE pageblock stays on its list (move_freepages_block "
        "only moves blocks whose head is in the pageblock)",
    )

    def check(self, view):
        out = []
        pbo = view.pageblock_order
        for z in view.zones:
            for pfn, order, mt in z.free:
                pb = view.pageblock_mt(pfn)
                if mt == MIGRATE_ISOLATE and pb != MIGRATE_ISOLATE:
                    out.append(self.violation(
                        f"free block at pfn {pfn} of order {order} on {z.label} is on the Isolate list but its "
                        f"pageblock is {mt_name(pb)}", pfn=pfn, order=order))
                if mt != MIGRATE_ISOLATE:
                    for q in range(pfn >> pbo, ((pfn + pages(order) - 1) >> pbo) + 1):
                        if 0 <= q < len(view.pageblocks) and view.pageblocks[q] == MIGRATE_ISOLATE:
                            out.append(self.violation(
                                f"free block at pfn {pfn} of order {order} on {z.label} covers the Isolate "
                                f"pageblock at pfn {q << pbo} but is on the {mt_name(mt)} list",
                                pfn=pfn, order=order))
                            break
            for cpu, lst, pfn, cached in z.pcp:
                if not pcp_list_ok(lst, cached):
                    out.append(self.violation(
                        f"per-cpu page at pfn {pfn} on {z.label} sits on cpu {cpu}'s {mt_name(lst)} list but "
                        f"its cached migratetype is {mt_name(cached)}", pfn=pfn, cpu=cpu))
                if view.pageblock_mt(pfn) == MIGRATE_ISOLATE:
                    out.append(self.violation(
                        f"per-cpu page at pfn {pfn} on {z.label} (cpu {cpu}) lies in an Isolate pageblock",
                        pfn=pfn, cpu=cpu))
        return out

    def encode(self, sym):
        sh = sym.shape
        pbo = sh.pageblock_order
        terms = []
        for s in sym.slots:
            pb = sym.pageblock_mt(s.pfn)
            lo = z3.LShR(s.pfn, pbo)
            hi = z3.LShR(s.end - 1, pbo)
            covers_iso = z3.Or([z3.And(z3.ULE(lo, q), z3.ULE(q, hi), sym.pageblocks[q] == MIGRATE_ISOLATE)
                                for q in range(sh.npageblocks)] or [z3.BoolVal(False)])
            free_ok = z3.And(z3.Implies(s.mt == MIGRATE_ISOLATE, pb == MIGRATE_ISOLATE),
                             z3.Implies(s.mt != MIGRATE_ISOLATE, z3.Not(covers_iso)))
            terms.append(z3.Implies(s.is_(FREE), free_ok))
            list_ok = z3.And(z3.ULT(s.mt, MIGRATE_PCPTYPES), s.cached != MIGRATE_ISOLATE,
                             z3.Or(s.cached == s.mt,
                                   z3.And(s.mt == MIGRATE_MOVABLE,
                                          z3.Or(s.cached == MIGRATE_HIGHATOMIC, s.cached == MIGRATE_CMA))))
            terms.append(z3.Implies(s.is_(PCP), z3.And(list_ok, pb != MIGRATE_ISOLATE)))
        return z3.And(terms) if terms else z3.BoolVal(True)


# ---- config_consistency -----------------------------------------------------------------------------
class ConfigConsistency(StateInvariant):
    name = "config_consistency"
    meaning = ("min_free_kbytes, each zone's watermarks (min, low, high), lowmem_reserve and per-cpu high/batch, and "
               "totalreserve_pages (per node and in all) follow 4.19's formulas from the managed pages and "
               "the sysctls the state holds, and those sysctls are within what their handlers accept "
               "(spec/config_invariants.py states them)")
    kernel = ("init_per_zone_wmark_min, __setup_per_zone_wmarks, setup_per_zone_lowmem_reserve, "
              "calculate_totalreserve_pages, zone_batchsize and pageset_set_high_and_batch compute them at boot; "
              "the sysctl handlers validate a write and compute them again from the new value "
              "(min_free_kbytes, watermark_scale_factor, lowmem_reserve_ratio, percpu_pagelist_fraction); "
              "nothing else changes them")
    exceptions = (
        "a value the topology gives explicitly (min_free_kbytes, a zone's watermarks = [..], lowmem_reserve = [..], "
        "pcp = [..]) must stay as given; values computed from it still follow the formulas",
        "unpopulated zones are not judged: they manage no pages, so they reserve nothing",
        "a hand-built view without a MachineConfig is not judged",
    )

    def check(self, view):
        return [self.violation(message, **values) for message, values in config_violations(view)]

    def encode(self, sym):
        return encode_config(sym)


STATE_INVARIANTS = (
    NoOverlap(),
    Conservation(),
    BuddyAlignment(),
    ZoneContainment(),
    MaximalCoalescing(),
    FreeAccounting(),
    MigratetypeConsistency(),
    HighatomicAccounting(),
    HighatomicReserveExact(),
    ConfigConsistency(),
)
BY_NAME = {inv.name: inv for inv in STATE_INVARIANTS}


def check_state(view, invariants=STATE_INVARIANTS):
    """Every violation of the given state invariants (all of them by default)."""
    out = []
    for inv in invariants:
        out.extend(inv.check(view))
    return out


__all__ = ["BY_NAME", "STATE_INVARIANTS", "StateInvariant", "Violation", "check_state", "pcp_list_ok"]
