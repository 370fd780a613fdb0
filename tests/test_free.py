"""The free path of the 4.19 model (__free_pages): order 0 through the per-cpu lists, higher
orders straight to buddy, and misuse, which must be reported before anything changes.

numa2 node 0 Normal is pfn 16..47 with order-3 MOVABLE list [40, 32, 24, 16] at boot; pcp high 4.
"""

import pytest
from helpers_state import check_invariants, fill_allocated, free_lists, set_allocated, set_free_lists

from buddycheck.model import constants as C
from buddycheck.model.constants import ZONE_NORMAL
from buddycheck.model.errors import BadPage, DoubleFree, InvalidOperation, NotAllocated, WrongOrder
from buddycheck.model.gfp import GFP_HIGHUSER_MOVABLE, GFP_KERNEL
from buddycheck.model.machine import Kernel419
from buddycheck.model.presets import preset

UNMOV, MOV, ISO = C.MIGRATE_UNMOVABLE, C.MIGRATE_MOVABLE, C.MIGRATE_ISOLATE


def numa2():
    m = Kernel419(preset("numa2"))
    return m, m.zone(0, ZONE_NORMAL)


def test_order0_free_goes_to_pcp():
    m, z = numa2()
    assert m.alloc(GFP_KERNEL).page == 40
    pgfree = m.stats.pgfree
    r = m.free(40)
    assert r.what == "free pfn 40 order 0"
    assert 40 not in m.allocated and 40 not in m.page_buddy
    assert z.pageset[0].lists[UNMOV] == [40, 41]
    assert z.nr_free_pages == 30
    assert m.stats.pgfree == pgfree + 1
    check_invariants(m)


def test_order0_free_on_other_cpu_uses_that_cpus_list():
    m, z = numa2()
    m.alloc(GFP_KERNEL, cpu=0)
    m.free(40, cpu=1)
    assert z.pageset[1].lists[UNMOV] == [40]
    assert z.pageset[0].lists[UNMOV] == [41]


def test_order0_free_with_zero_high_spills_at_once():
    m = Kernel419(preset("buddy-core", pages=16, max_order=4))
    z = m.zones()[0]
    assert m.alloc(GFP_KERNEL).page == 8
    m.free(8)
    assert z.pageset[0].count == 0
    assert free_lists(z, 3) == {UNMOV: [8, 0]}  # merged back to order 3, head of the list
    assert z.nr_free_pages == 16


def test_higher_order_free_goes_straight_to_buddy():
    m, z = numa2()
    # order 1 UNMOVABLE: fallback steals 40 (o3), splitting it to 40 (kept), 42 (o1), 44 (o2).
    assert m.alloc(GFP_KERNEL, 1).page == 40
    assert z.nr_free_pages == 30
    pgfree = m.stats.pgfree
    m.free(40)
    assert z.pageset[0].count == 0
    assert free_lists(z, 3) == {MOV: [32, 24, 16], UNMOV: [40]}
    assert z.nr_free_pages == 32
    assert m.stats.pgfree == pgfree + 2
    check_invariants(m)


def test_free_default_order_is_allocation_order():
    m, z = numa2()
    assert m.alloc(GFP_HIGHUSER_MOVABLE, 2).page == 40
    assert m.free(40).what == "free pfn 40 order 2"
    assert m.free_blocks(z)[-1] == (40, 3, MOV)


def test_free_with_explicit_correct_order():
    m, z = numa2()
    m.alloc(GFP_HIGHUSER_MOVABLE, 2)
    m.free(40, 2)
    assert 40 not in m.allocated
    check_invariants(m)


def test_higher_order_free_into_isolated_pageblock_not_counted():
    m, z = numa2()
    set_free_lists(m, z, {})
    set_allocated(m, {20: (2, MOV)})
    fill_allocated(m, z, MOV)
    m.pageblock_flags[5] = ISO
    z.nr_isolate_pageblock = 1
    m.free(20)
    assert free_lists(z, 2) == {ISO: [20]}
    assert z.nr_free_pages == 0


def test_free_uses_pageblock_type_not_allocation_type():
    m, z = numa2()
    set_free_lists(m, z, {})
    set_allocated(m, {20: (2, MOV)})
    fill_allocated(m, z, MOV)
    m.pageblock_flags[5] = UNMOV
    m.free(20)
    assert free_lists(z, 2) == {UNMOV: [20]}


# ---- misuse ------------------------------------------------------------------------------------

def misuse_machine():
    """numa2 with 40 allocated order 1 (UNMOVABLE) and 32 allocated order 0 (MOVABLE, 33 left on the pcp)."""
    m, z = numa2()
    assert m.alloc(GFP_KERNEL, 1).page == 40
    assert m.alloc(GFP_HIGHUSER_MOVABLE).page == 32
    return m, z


def test_double_free_of_block_in_buddy():
    m, _ = misuse_machine()
    m.free(40)
    frozen = m.freeze()
    with pytest.raises(DoubleFree):
        m.free(40)
    with pytest.raises(DoubleFree):
        m.free(40, 1)
    assert m.freeze() == frozen


def test_double_free_of_page_on_pcp():
    m, z = misuse_machine()
    m.free(32)
    assert z.pageset[0].lists[MOV][0] == 32
    frozen = m.freeze()
    with pytest.raises(DoubleFree):
        m.free(32)
    assert m.freeze() == frozen


def test_free_of_never_allocated_free_page_is_double_free():
    m, _ = misuse_machine()
    frozen = m.freeze()
    with pytest.raises(DoubleFree):
        m.free(16)  # inside the free order-3 block 16..23
    with pytest.raises(DoubleFree):
        m.free(19)
    assert m.freeze() == frozen


def test_free_of_pfn_inside_allocated_block():
    m, _ = misuse_machine()
    frozen = m.freeze()
    with pytest.raises(NotAllocated):
        m.free(41)
    assert m.freeze() == frozen


def test_free_with_wrong_order():
    m, _ = misuse_machine()
    frozen = m.freeze()
    with pytest.raises(WrongOrder):
        m.free(40, 0)
    with pytest.raises(WrongOrder):
        m.free(40, 2)
    assert m.freeze() == frozen
    assert 40 in m.allocated


@pytest.mark.parametrize("pfn", [96, 1000, -1])
def test_free_of_pfn_in_no_zone(pfn):
    m, _ = misuse_machine()
    frozen = m.freeze()
    with pytest.raises(NotAllocated):
        m.free(pfn)
    assert m.freeze() == frozen


def test_misuse_errors_are_bad_page():
    for cls in (DoubleFree, NotAllocated, WrongOrder):
        assert issubclass(cls, BadPage)


def test_free_with_negative_order_or_bad_cpu():
    m, _ = misuse_machine()
    frozen = m.freeze()
    with pytest.raises(InvalidOperation):
        m.free(40, -1)
    with pytest.raises(InvalidOperation):
        m.free(40, cpu=7)
    assert m.freeze() == frozen
    assert 40 in m.allocated


def test_page_on_pcp_counts_as_free_after_reallocation():
    m, z = misuse_machine()
    m.free(32)
    assert m.alloc(GFP_HIGHUSER_MOVABLE).page == 32  # back from the pcp head
    m.free(32)  # a legal second free now
    assert z.pageset[0].lists[MOV][0] == 32
    check_invariants(m)
