"""A page-migration mutant: mbind(MPOL_MF_STRICT) that does not report misplaced pages.

MBIND-STRICT-EIO re-introduces the mistake fixed by a7f40cfe3b7a "mm: mempolicy: make mbind() return
-EIO when MPOL_MF_STRICT is specified" (v5.2, in stable 4.19.y; 4.19.0 as released has the
mistake). 6f4576e3687b "mempolicy: apply page table walker on queue_pages_range()" (v4.0) made the
walk's pte handler pass a misplaced page by whatever the flags, so mbind with MPOL_MF_STRICT alone
returned 0 over pages outside its nodes, where the documented answer is -EIO. The mutant is the
stable walk (model/migrate.py) with that part taken back: without a move flag a misplaced page is
skipped. The invariant is mbind_strict_placement (spec/operation_invariants.py).
"""

from buddycheck.checks.ops import Fault, Mbind, Mmap
from buddycheck.checks.scenario import Scenario
from buddycheck.model import Kernel419, NodeSpec, Topology, ZoneSpec
from buddycheck.model.constants import ZONE_NORMAL
from buddycheck.model.mempolicy import MPOL_BIND, MPOL_MF_MOVE, MPOL_MF_MOVE_ALL, MPOL_MF_STRICT

ADDR = 0x100000

MbindStrictEio = Kernel419.variant(
    "mbind-strict-eio", "queue_pages_pte_range() passes misplaced pages by without a move flag (before a7f40cfe3b7a)")


@MbindStrictEio.override
def queue_pages_pte_range(k, mm, vma, start, end, qp):
    """queue_pages_pte_range() that, as before the fix, walks past a misplaced page when no move flag is given."""
    if not qp.flags & (MPOL_MF_MOVE | MPOL_MF_MOVE_ALL):
        return 0
    return Kernel419.queue_pages_pte_range(k, mm, vma, start, end, qp)


def two_nodes():
    """Two nodes of one 2-page Normal zone each, CPU i on node i; no limits."""
    zone = dict(watermarks=(0, 0, 0), lowmem_reserve=(0,) * 5, pcp_high_batch=(0, 1))
    return Topology(nodes=tuple(NodeSpec(n, (n,), (ZoneSpec(ZONE_NORMAL, 2 * n, 2, **zone),)) for n in range(2)),
                    max_order=2, pageblock_order=1, page_group_by_mobility_disabled=False, name="numa2x2")


def mbind_strict_scenario():
    """Task 0 maps one page; it may write it (on node 0, its CPU's) and mbind it to node 1 with MPOL_MF_STRICT."""
    return Scenario("mbind-strict-eio", two_nodes(), setup=(Mmap(ADDR, 0x1000),),
                    extra_ops=(Fault(ADDR), Mbind(ADDR, 0x1000, MPOL_BIND, frozenset({1}), MPOL_MF_STRICT)),
                    depth=2, description="a page on node 0 and an mbind to node 1 with MPOL_MF_STRICT")
