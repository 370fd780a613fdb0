"""The mutant catalogue: real kernel bugs of the modelled code, re-introduced into the 4.19 model.

Each `Mutant` is a named variant of Kernel419 (model/machine.py `Kernel419.variant`) that overrides
only the kernel functions the bug touches, with the commit that fixed it, what went wrong, how the
mistake maps onto 4.19 when the fix came in code 4.19 lacks, the invariant expected to catch it,
the scenario it is checked on (the smallest machine that shows the bug), and the length
of its shortest counterexample. tests/test_mutants.py pins every length; `buddycheck mutants`
(checks/cli/mutants.py) runs the catalogue.

Killing a mutant: breadth-first exploration of its scenario against the mutant, with every property
of checks/properties.py (the whole catalogue, as the default check judges it), to the pinned length;
the mutant is killed when some invariant fails. The unmutated Kernel419 passes the
same scenario at that depth, and one operation less does not break the expected invariant.

Known-bugs entries that are not here, and why: 8 CONVERT-TXN and 16 HA-RESERVE-MAX are behaviour
4.19 itself has (fixed in 6.10 and 6.8 in code 4.19 has), so there is no mistake to put back, only
a fix to port (a variant for `buddycheck diff`); 18 CLASSZONE likewise (5.8, a diff variant);
21 PCP-COUNT-DESYNC needs a corrupted struct page, which the model does not have (check_pcp_refill
never fails, so rmqueue_bulk's count of pages taken always equals the count of pages listed).
"""

import time
from dataclasses import dataclass, field

from buddycheck.checks.explore import Explorer
from buddycheck.checks.properties import all_properties
from buddycheck.spec.hygiene import HYGIENE_INVARIANTS

from .buddy import ZoneXmerge, zone_xmerge_scenario
from .cma import CmaIsoCount, CmaWmark, cma_iso_count_scenario, cma_wmark_scenario
from .highatomic import HaDoubleDec, HaSteal, ha_double_dec_scenario, ha_steal_scenario
from .isolation import IsoMergeBuddy, IsoMergeOrder, IsoUndoNoMerge, isolation_scenario
from .mempolicy import IlNextRebind, ThpNotThisnode, ThpPreferred, il_next_rebind_scenario, thp_scenario
from .migration import MbindStrictEio, mbind_strict_scenario
from .pcp import PcpStaleIsolate, pcp_stale_isolate_scenario
from .watermark import WmarkNeg, wmark_neg_scenario

HYGIENE_NAMES = frozenset(inv.name for inv in HYGIENE_INVARIANTS)


@dataclass(frozen=True)
class Mutant:
    """One re-introduced kernel bug; see the module docstring."""

    name: str
    model: type  # a Kernel419 variant
    commit: str  # the fixing commit's id ("unverified" where it is not checked), or "" if unknown
    fix_title: str
    known_bug: str  # the historical bug's short name, listed in docs/kernel-419.md (Historical bugs)
    what_went_wrong: str
    maps_to_419: str  # how the mistake is put into 4.19's code ("" when 4.19 has the fixed code as it was)
    invariant: str  # the invariant expected to catch it
    scenario: object  # () -> Scenario
    length: int  # operations in the shortest counterexample
    kind: str = "bug"  # "bug", or "partial revert" (half of a fix taken back)

    def properties(self):
        """Every property the mutant is judged by: checks/properties.py's (fresh objects).

        Left out: the free-list hygiene rules (spec/hygiene.py), which 4.19 itself breaks within two
        operations wherever HIGHATOMIC reserves or fallbacks occur; a mutant is judged absolutely, not
        against 4.19, so they would kill every mutant whose scenario reaches such a state.
        """
        return [p for p in all_properties() if p.name not in HYGIENE_NAMES]

    def checked_scenario(self, model=None):
        """The mutant's scenario with the mutant (or `model`) as the machine."""
        return self.scenario().with_model(self.model if model is None else model)


@dataclass
class MutantResult:
    """What running one mutant found."""

    name: str
    killed: bool
    invariant: str | None
    length: int | None
    seconds: float
    expected_invariant: str
    expected_length: int
    message: str = ""
    trace: tuple = ()
    states: int = 0
    stopped_by: str | None = None
    extra: dict = field(default_factory=dict)
    depth: int | None = None  # the bound explored

    @property
    def as_expected(self):
        return self.killed and self.invariant == self.expected_invariant and self.length == self.expected_length


def explore(mutant, depth=None, model=None, stop_at_first=True):
    """Breadth-first exploration of the mutant's scenario (against the mutant, or `model`) to `depth`."""
    explorer = Explorer(mutant.checked_scenario(model)).check(*mutant.properties())
    explorer.depth(mutant.length if depth is None else depth)
    if not stop_at_first:
        explorer.all_violations()
    return explorer.run()


def kill(mutant, depth=None):
    """Run the mutant to `depth` (its pinned length by default); the violation that kills it, if any.

    Every violation within the bound is collected (one per invariant, each with its shortest trace);
    the result names the expected invariant when it is among the shortest ones, else the first of
    the shortest, and lists the other invariants that failed in `extra["also"]`.
    """
    depth = mutant.length if depth is None else depth
    start = time.perf_counter()
    report = explore(mutant, depth, stop_at_first=False)
    seconds = time.perf_counter() - start
    if not report.violations:
        return MutantResult(mutant.name, False, None, None, seconds, mutant.invariant, mutant.length,
                            states=report.reachable_states, stopped_by=report.stopped_by, depth=depth)
    shortest = min(v.length for v in report.violations)
    first = [v for v in report.violations if v.length == shortest]
    v = next((v for v in first if v.invariant == mutant.invariant), first[0])
    also = sorted({w.invariant for w in report.violations} - {v.invariant})
    return MutantResult(mutant.name, True, v.invariant, v.length, seconds, mutant.invariant, mutant.length,
                        v.message, v.trace, report.reachable_states, report.stopped_by, {"also": also}, depth)


_ISO = "ISO-MERGE-ORDER"
_HA = "HA-DOUBLE-DEC"
_THP = "THP-PREFERRED"

CATALOGUE = (
    Mutant(
        "zone-xmerge", ZoneXmerge, "cb2b95e1c6b5 (unverified)", "zone handle unaligned zone boundaries",
        "ZONE-XMERGE",
        "page_is_buddy() did not compare the zones of a page and its buddy; across a zone boundary that is not "
        "MAX_ORDER-aligned two free blocks of different zones merged into one block on one zone's list",
        "", "zone_containment", zone_xmerge_scenario, 0),
    Mutant(
        "iso-merge-order", IsoMergeOrder, "3c605096d315",
        "mm/page_alloc: restrict max order of merging on isolated pageblock", _ISO,
        "__free_one_page() merged past pageblock_order whatever the buddy's pageblock, so free pages of an ISOLATE "
        "pageblock and of a normal one became one block on one list and NR_FREE_PAGES no longer matched the lists",
        "", "free_accounting", lambda: isolation_scenario("iso-merge-order", 3), 3),
    Mutant(
        "iso-merge-buddy", IsoMergeBuddy, "d9dddbf55667",
        "mm/page_alloc: prevent merging between isolated and other pageblocks", _ISO,
        "3c605096d315 capped the merge order only when the freed page was ISOLATE; a page freed into a normal "
        "pageblock still merged with an ISOLATE buddy past pageblock_order (CMA and free counts above the totals)",
        "", "free_accounting", lambda: isolation_scenario("iso-merge-buddy", 5), 5),
    Mutant(
        "iso-undo-no-merge", IsoUndoNoMerge, "3c605096d315",
        "mm/page_alloc: restrict max order of merging on isolated pageblock (its unset_migratetype_isolate half)",
        _ISO,
        "with merging capped at pageblock_order during isolation, undoing the isolation must free a "
        "pageblock-order block again so that it merges with the buddy it was kept from; moving it back leaves "
        "two free buddies apart for good",
        "a partial revert: __free_one_page() keeps 4.19's cap, unset_migratetype_isolate() is the one before "
        "3c605096d315", "maximal_coalescing", lambda: isolation_scenario("iso-undo-no-merge", 4), 4,
        kind="partial revert"),
    Mutant(
        "pcp-stale-isolate", PcpStaleIsolate, "51bb1a4093cc",
        "mm/page_alloc: add freepage on isolate pageblock to correct buddy list",
        "PCP-STALE-ISOLATE",
        "free_pcppages_bulk() used the migratetype cached when the page went onto the per-cpu list; a page of a "
        "pageblock isolated since then went onto a normal free list and could be allocated",
        "", "migratetype_consistency", pcp_stale_isolate_scenario, 3),
    Mutant(
        "cma-wmark", CmaWmark, "d95ea5d18e69", "cma: fix watermark checking", "CMA-WMARK",
        "the watermark checks counted free CMA pages for requests that may not use them; unmovable requests "
        "passed while their usable pages were at or below min, and took them",
        "zone_watermark_fast() (4.8) did not exist when the fix came; the mutant makes the same mistake in both "
        "__zone_watermark_ok() and zone_watermark_fast()", "watermark_respect", cma_wmark_scenario, 2),
    Mutant(
        "cma-iso-count", CmaIsoCount, "unverified", "mm: cma: fix counting of isolated pages",
        "CMA-WMARK (sibling fix)",
        "isolated free pages stayed in NR_FREE_PAGES and NR_FREE_CMA_PAGES, so an isolated CMA area still "
        "counted as free memory in every watermark check",
        "set/unset_migratetype_isolate() leave the counters alone and __free_one_page() counts pages freed into "
        "an ISOLATE pageblock (the three places the fix changed, in 4.19's code)",
        "free_accounting", cma_iso_count_scenario, 1),
    Mutant(
        "wmark-neg", WmarkNeg, "9282012fc0aa", "page_alloc: fix invalid watermark check on a negative value",
        "WMARK-NEG",
        "the order-0 shortcut compared free minus unusable pages (highatomic reserve, CMA), a signed value, with "
        "the unsigned mark: with the reserve above the free pages it passed, and order-0 requests drained the "
        "zone without reclaim",
        "4.19's shortcut subtracts only CMA pages; the mutant is 4.19's zone_watermark_fast() with "
        "f27ce0e14088's shortcut (reserve and CMA subtracted, the result compared as unsigned)",
        "watermark_respect", wmark_neg_scenario, 3),
    Mutant(
        "ha-double-dec", HaDoubleDec, "4855e4a7f29d", "mm: prevent double decrease of nr_reserved_highatomic", _HA,
        "unreserve_highatomic_pageblock() decremented nr_reserved_highatomic for any page on a HIGHATOMIC list; a "
        "page drained back there after its pageblock was unreserved made it decrement twice for one pageblock",
        "", "highatomic_accounting", ha_double_dec_scenario, 3),
    Mutant(
        "ha-steal", HaSteal, "88ed365ea227", "mm: don't steal highatomic pageblock", _HA + " (sibling fix)",
        "steal_suitable_fallback() could claim a HIGHATOMIC pageblock for another migratetype without taking it "
        "off nr_reserved_highatomic, so the reserve counted a pageblock that was no longer reserved",
        "", "highatomic_reserve_exact", ha_steal_scenario, 5),
    Mutant(
        "thp-preferred", ThpPreferred, "unverified", "mm, thp: respect MPOL_PREFERRED policy with non-local node",
        _THP + " (a)",
        "the THP path of alloc_pages_vma() tried the CPU's node even under MPOL_PREFERRED naming another node, "
        "so `numactl -p1 -C0` put huge pages on node 0",
        "", "thp_node", lambda: thp_scenario("thp-preferred", 2), 2),
    Mutant(
        "thp-not-thisnode", ThpNotThisnode, "unverified",
        "mm, thp: really limit transparent hugepage allocation to local node", _THP + " (b)",
        "the one-node THP attempt lacked __GFP_THISNODE, so it only preferred the node and silently took a "
        "remote huge page instead of falling back to small pages",
        "", "thp_node", lambda: thp_scenario("thp-not-thisnode", 2), 2),
    Mutant(
        "il-next-rebind", IlNextRebind, "unverified (about 45816682b2cd)",
        "mm, mempolicy: stop adjusting current->il_next in mpol_rebind_nodemask()",
        "IL-NEXT-REBIND",
        "rebinding any policy after a cpuset change rewrote the current task's interleave cursor, although the "
        "policy could be another task's or a VMA's, so the task's interleave sequence jumped",
        "4.19 keeps il_prev, not il_next; the mutant's mpol_rebind_nodemask() moves current->il_prev into the "
        "rebound mask as the old code moved il_next", "interleave_cursor", il_next_rebind_scenario, 2),
    Mutant(
        "mbind-strict-eio", MbindStrictEio, "a7f40cfe3b7a",
        "mm: mempolicy: make mbind() return -EIO when MPOL_MF_STRICT is specified", "MBIND-STRICT-EIO",
        "since the page-table walker rewrite (6f4576e3687b) mbind() with MPOL_MF_STRICT and no move flag walked past "
        "pages outside its nodes and returned 0, where it must return -EIO",
        "4.19.0 as released has the mistake; the model follows stable 4.19.y, and the mutant's "
        "queue_pages_pte_range() skips a misplaced page when no move flag is given",
        "mbind_strict_placement", mbind_strict_scenario, 2),
)

MUTANTS = {m.name: m for m in CATALOGUE}

__all__ = ["CATALOGUE", "MUTANTS", "Mutant", "MutantResult", "explore", "kill"]
