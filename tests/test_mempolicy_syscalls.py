"""set_mempolicy, get_mempolicy and mbind: 4.19's validation order, error numbers, reports and VMA changes.

Every rejected call is checked to leave the frozen state unchanged. The
expected errors follow kernel_set_mempolicy/get_nodes/mpol_new/
mpol_set_nodemask, do_get_mempolicy/kernel_get_mempolicy/copy_nodes_to_user
and kernel_mbind/do_mbind/queue_pages_test_walk/mbind_range in mm/mempolicy.c.
The machine has 4 nodes with one Normal zone and one CPU each, MAX_NUMNODES 64.
"""

import pytest

from buddycheck.model import InvalidOperation, Kernel419, NodeSpec, Topology, ZoneSpec
from buddycheck.model.constants import ZONE_NORMAL
from buddycheck.model.mempolicy import (
    EFAULT,
    EINVAL,
    EPERM,
    MPOL_BIND,
    MPOL_DEFAULT,
    MPOL_F_ADDR,
    MPOL_F_LOCAL,
    MPOL_F_MEMS_ALLOWED,
    MPOL_F_NODE,
    MPOL_F_RELATIVE_NODES,
    MPOL_F_STATIC_NODES,
    MPOL_INTERLEAVE,
    MPOL_LOCAL,
    MPOL_MF_LAZY,
    MPOL_MF_MOVE,
    MPOL_MF_MOVE_ALL,
    MPOL_MF_STRICT,
    MPOL_PREFERRED,
    VMA,
    Mempolicy,
)

F = frozenset
STATIC, RELATIVE = MPOL_F_STATIC_NODES, MPOL_F_RELATIVE_NODES
BIND1 = Mempolicy(MPOL_BIND, nodes=F({1}), cpuset_mems_allowed=F({0, 1, 2, 3}))


def numa(n=4, memoryless=()):
    nodes = []
    for i in range(n):
        zones = () if i in memoryless else (
            ZoneSpec(ZONE_NORMAL, i * 16, 16, watermarks=(1, 2, 3), pcp_high_batch=(0, 1)),)
        nodes.append(NodeSpec(i, (i,), zones))
    return Topology(nodes=tuple(nodes), max_order=3, pageblock_order=1, min_free_kbytes=0)


@pytest.fixture
def m():
    """Task 0 with INTERLEAVE {0,1} already set, so a rejected call visibly keeps it; task 1 in cpuset {0,1}."""
    k = Kernel419(numa())
    assert k.set_mempolicy(MPOL_INTERLEAVE, {0, 1}).ret == 0
    k.add_task(1, {0, 1})
    k.mmap(0x10000, 0x10000)
    return k


def rejected(m, errno, call):
    before = m.freeze()
    r = call()
    assert r.ret == -errno, str(r)
    assert m.freeze() == before
    return r


def policy(m, task=0):
    return m.tasks[task].mempolicy


# ---- set_mempolicy -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", [5, 6, 0x1fff, -1, MPOL_BIND | 1 << 13])
def test_set_mempolicy_mode_out_of_range(m, mode):
    rejected(m, EINVAL, lambda: m.set_mempolicy(mode, {0}))


def test_set_mempolicy_static_and_relative_together(m):
    rejected(m, EINVAL, lambda: m.set_mempolicy(MPOL_BIND | STATIC | RELATIVE, {0}))


def test_get_nodes_maxnode_limits(m):
    # maxnode-1 may be at most PAGE_SIZE*8 = 32768 bits
    rejected(m, EINVAL, lambda: m.set_mempolicy(MPOL_BIND, {0}, maxnode=32770))
    # maxnode 0 wraps to ULONG_MAX after the decrement: too many bits
    rejected(m, EINVAL, lambda: m.set_mempolicy(MPOL_BIND, {0}, maxnode=0))
    assert m.set_mempolicy(MPOL_BIND, {0}, maxnode=32769).ret == 0
    assert policy(m).nodes == F({0})


def test_get_nodes_rejects_bits_at_or_above_max_numnodes_it_reads(m):
    rejected(m, EINVAL, lambda: m.set_mempolicy(MPOL_BIND, {0, 64}, maxnode=66))
    rejected(m, EINVAL, lambda: m.set_mempolicy(MPOL_BIND, {0, 100}, maxnode=102))  # reads bits 0..100


def test_get_nodes_ignores_bits_at_or_above_maxnode_minus_one():
    m = Kernel419(numa())
    # maxnode 65 reads bits 0..63: bit 64 and bit 100 are never looked at
    assert m.set_mempolicy(MPOL_BIND, {0, 64, 100}, maxnode=65).ret == 0
    assert policy(m).nodes == F({0})
    # maxnode 3 reads bits 0 and 1 only
    assert m.set_mempolicy(MPOL_BIND, {1, 2}, maxnode=3).ret == 0
    assert policy(m).nodes == F({1})
    # maxnode 1 reads nothing: an empty mask, which BIND refuses and DEFAULT accepts
    rejected(m, EINVAL, lambda: m.set_mempolicy(MPOL_BIND, {1}, maxnode=1))
    assert m.set_mempolicy(MPOL_DEFAULT, {1}, maxnode=1).ret == 0
    assert policy(m) is None


@pytest.mark.parametrize("mode, nodes", [
    (MPOL_DEFAULT, {0}),  # DEFAULT takes no nodes
    (MPOL_PREFERRED | STATIC, ()),  # local allocation cannot carry a mode flag
    (MPOL_PREFERRED | RELATIVE, None),
    (MPOL_LOCAL, {0}),  # LOCAL takes no nodes
    (MPOL_LOCAL | STATIC, ()),
    (MPOL_LOCAL | RELATIVE, ()),
    (MPOL_BIND, ()),  # BIND and INTERLEAVE need nodes
    (MPOL_BIND, None),
    (MPOL_INTERLEAVE, ()),
])
def test_mpol_new_rejects(m, mode, nodes):
    rejected(m, EINVAL, lambda: m.set_mempolicy(mode, nodes))


@pytest.mark.parametrize("mode, nodes", [
    (MPOL_BIND, {2, 3}), (MPOL_INTERLEAVE, {2}), (MPOL_PREFERRED, {3}), (MPOL_BIND | STATIC, {3}),
])
def test_mpol_set_nodemask_rejects_nodes_outside_the_cpuset(m, mode, nodes):
    # task 1's cpuset is {0,1}: the nodes left after the intersection are none
    rejected(m, EINVAL, lambda: m.set_mempolicy(mode, nodes, task=1))


def test_nodes_are_cut_to_the_cpuset_and_the_cpuset_is_remembered(m):
    assert m.set_mempolicy(MPOL_BIND, {1, 2}, task=1).ret == 0
    assert policy(m, 1) == Mempolicy(MPOL_BIND, nodes=F({1}), cpuset_mems_allowed=F({0, 1}))


def test_memoryless_nodes_are_cut_but_remembered_in_cpuset_mems_allowed():
    m = Kernel419(numa(memoryless=(3,)))
    rejected(m, EINVAL, lambda: m.set_mempolicy(MPOL_BIND, {3}))
    assert m.set_mempolicy(MPOL_BIND, {2, 3}).ret == 0
    # v.nodes = nodes & cpuset & N_MEMORY; w.cpuset_mems_allowed is the cpuset itself, which at boot is
    # N_MEMORY (kernel_init_freeable: set_mems_allowed(node_states[N_MEMORY])), so node 3 is not in it
    assert policy(m) == Mempolicy(MPOL_BIND, nodes=F({2}), cpuset_mems_allowed=F({0, 1, 2}))


def test_static_and_relative_keep_the_users_mask():
    m = Kernel419(numa())
    m.add_task(1, {1, 2, 3})
    assert m.set_mempolicy(MPOL_BIND | STATIC, {0, 1}, task=1).ret == 0
    assert policy(m, 1) == Mempolicy(MPOL_BIND, STATIC, nodes=F({1}), user_nodemask=F({0, 1}))
    # relative: {0,2} folded by 3 and mapped onto {1,2,3} gives the 0th and 2nd allowed nodes
    assert m.set_mempolicy(MPOL_INTERLEAVE | RELATIVE, {0, 2}, task=1).ret == 0
    assert policy(m, 1) == Mempolicy(MPOL_INTERLEAVE, RELATIVE, nodes=F({1, 3}), user_nodemask=F({0, 2}))


def test_default_drops_the_policy_and_keeps_il_prev(m):
    assert m.tasks[0].il_prev == 63
    assert m.set_mempolicy(MPOL_DEFAULT).ret == 0
    assert policy(m) is None and m.tasks[0].il_prev == 63


def test_set_mempolicy_misuse_raises_before_any_change(m):
    before = m.freeze()
    with pytest.raises(InvalidOperation):
        m.set_mempolicy(MPOL_BIND, {-1})
    with pytest.raises(InvalidOperation):
        m.set_mempolicy(MPOL_BIND, {0}, task=9)
    assert m.freeze() == before


# ---- get_mempolicy -----------------------------------------------------------------------------------------
def reported(m, **kw):
    before = m.freeze()
    r = m.get_mempolicy(**kw)
    assert m.freeze() == before  # get_mempolicy never changes anything
    return r.ret, r.policy, r.nodes


def test_get_mempolicy_reports_each_mode():
    m = Kernel419(numa())
    assert reported(m) == (0, MPOL_DEFAULT, F())
    m.set_mempolicy(MPOL_BIND, {0, 2})
    assert reported(m) == (0, MPOL_BIND, F({0, 2}))
    m.set_mempolicy(MPOL_PREFERRED, {3})
    assert reported(m) == (0, MPOL_PREFERRED, F({3}))
    m.set_mempolicy(MPOL_LOCAL)
    assert reported(m) == (0, MPOL_PREFERRED, F())  # local is PREFERRED with an empty mask
    assert policy(m).flags == MPOL_F_LOCAL  # not the default policy, though it looks alike


def test_get_mempolicy_reports_mode_flags_and_the_users_mask():
    m = Kernel419(numa())
    m.add_task(1, {1, 2, 3})
    m.set_mempolicy(MPOL_INTERLEAVE | RELATIVE, {0, 2}, task=1)
    assert reported(m, task=1) == (0, MPOL_INTERLEAVE | RELATIVE, F({0, 2}))  # not the effective {1,3}
    m.set_mempolicy(MPOL_PREFERRED | STATIC, {0, 3}, task=1)
    assert reported(m, task=1) == (0, MPOL_PREFERRED | STATIC, F({0, 3}))


def test_get_mempolicy_mems_allowed(m):
    assert reported(m, flags=MPOL_F_MEMS_ALLOWED, task=1) == (0, 0, F({0, 1}))


def test_get_mempolicy_node_is_the_next_interleave_node_without_advancing(m):
    assert reported(m, flags=MPOL_F_NODE) == (0, 0, F({0, 1}))  # il_prev 63 -> node 0
    m.alloc_pages(0, 0)
    assert reported(m, flags=MPOL_F_NODE) == (0, 1, F({0, 1}))


def test_get_mempolicy_addr_reports_the_vma_policy_not_the_task_policy(m):
    assert reported(m, flags=MPOL_F_ADDR, addr=0x10000) == (0, MPOL_DEFAULT, F())
    m.mbind(0x10000, 0x1000, MPOL_BIND, {2, 3})
    assert reported(m, flags=MPOL_F_ADDR, addr=0x10800) == (0, MPOL_BIND, F({2, 3}))


@pytest.mark.parametrize("kw, errno", [
    (dict(flags=8), EINVAL),  # unknown flag
    (dict(flags=MPOL_F_MEMS_ALLOWED | MPOL_F_NODE), EINVAL),
    (dict(flags=MPOL_F_MEMS_ALLOWED | MPOL_F_ADDR, addr=0x10000), EINVAL),
    (dict(addr=0x10000), EINVAL),  # an address without MPOL_F_ADDR
    (dict(flags=MPOL_F_ADDR, addr=0x30000), EFAULT),  # no VMA there
    (dict(maxnode=63), EINVAL),  # a node mask shorter than MAX_NUMNODES
    (dict(maxnode=32770), EINVAL),  # copy_nodes_to_user: more than a page of mask
    (dict(flags=MPOL_F_NODE, task=1), EINVAL),  # MPOL_F_NODE without interleave (task 1 has no policy)
])
def test_get_mempolicy_errors(m, kw, errno):
    assert reported(m, **kw)[0] == -errno


def test_get_mempolicy_short_mask_is_fine_without_a_mask_pointer(m):
    assert reported(m, maxnode=63, want_nodes=False) == (0, MPOL_INTERLEAVE, None)
    assert reported(m, maxnode=32769) == (0, MPOL_INTERLEAVE, F({0, 1}))  # exactly a page


def test_get_mempolicy_node_of_an_address_faults_it_in(m):
    # tests/test_page_table.py has the rest: lookup_node maps the zero page for an untouched address
    r = m.get_mempolicy(flags=MPOL_F_NODE | MPOL_F_ADDR, addr=0x10000)
    assert r.ret == 0 and m.tasks[0].page_table != ()


# ---- mbind: validation -------------------------------------------------------------------------------------
@pytest.mark.parametrize("args, kw, errno", [
    ((0x10000, 0x1000, 5, {0}), {}, EINVAL),  # mode >= MPOL_MAX
    ((0x10000, 0x1000, MPOL_BIND | STATIC | RELATIVE, {0}), {}, EINVAL),
    ((0x10000, 0x1000, MPOL_BIND, {0, 64}), dict(maxnode=66), EINVAL),  # get_nodes
    ((0x10000, 0x1000, MPOL_BIND, {0}), dict(flags=MPOL_MF_LAZY), EINVAL),  # not in MPOL_MF_VALID in 4.19
    ((0x10000, 0x1000, MPOL_BIND, {0}), dict(flags=1 << 4), EINVAL),
    ((0x10000, 0x1000, MPOL_BIND, {0}), dict(flags=MPOL_MF_MOVE_ALL), EPERM),  # no CAP_SYS_NICE
    ((0x10800, 0x1000, MPOL_BIND, {0}), {}, EINVAL),  # start not page-aligned
    ((0x10800, 0x1000, MPOL_BIND, {0}), dict(flags=MPOL_MF_MOVE_ALL), EPERM),  # EPERM is checked first
    ((0x10000, 0x1000, 7, {0}), dict(flags=MPOL_MF_MOVE_ALL), EINVAL),  # the mode is checked before that
    (((1 << 64) - 0x1000, 0x2000, MPOL_BIND, {0}), {}, EINVAL),  # the range wraps
    ((0x10000, 0x1000, MPOL_BIND, ()), {}, EINVAL),  # mpol_new
    ((0x10000, 0x1000, MPOL_DEFAULT, {0}), {}, EINVAL),
    ((0x10000, 0x1000, MPOL_BIND, {2, 3}), dict(task=1), EINVAL),  # mpol_set_nodemask: outside the cpuset
    ((0x8000, 0x1000, MPOL_BIND, {0}), {}, EFAULT),  # start is not mapped
    ((0x1f000, 0x2000, MPOL_BIND, {0}), {}, EFAULT),  # runs past the last VMA
])
def test_mbind_rejects(m, args, kw, errno):
    if kw.get("task") == 1:
        m.mmap(0x10000, 0x10000, task=1)
    rejected(m, errno, lambda: m.mbind(*args, **kw))


def test_mbind_hole_inside_the_range_is_efault(m):
    m.mmap(0x30000, 0x1000)
    rejected(m, EFAULT, lambda: m.mbind(0x1f000, 0x12000, MPOL_BIND, {0}))


def test_mbind_move_flags(m):
    assert m.mbind(0x10000, 0x1000, MPOL_BIND, {0}, flags=MPOL_MF_MOVE_ALL, cap_sys_nice=True).ret == 0
    assert m.mbind(0x11000, 0x1000, MPOL_BIND, {1}, flags=MPOL_MF_MOVE | MPOL_MF_STRICT).ret == 0
    assert [v.policy.nodes for v in m.tasks[0].vmas[:2]] == [F({0}), F({1})]


def test_mbind_zero_length_succeeds_before_the_policy_is_checked(m):
    # len 0 returns 0 before mpol_new, so an empty BIND mask is not noticed
    before = m.freeze()
    assert m.mbind(0x10000, 0, MPOL_BIND, ()).ret == 0
    # a length of 2**64-1 rounds up to 0 in unsigned arithmetic: the same early success
    assert m.mbind(0x10000, (1 << 64) - 1, MPOL_BIND, ()).ret == 0
    assert m.freeze() == before


def test_mbind_range_ending_in_a_hole_before_a_later_vma_succeeds(m):
    # the walk only checks VMAs inside the range and "last VMA ends early"; a VMA further on hides the hole
    m.mmap(0x30000, 0x1000)
    assert m.mbind(0x1f000, 0x2000, MPOL_BIND, {0}).ret == 0
    assert [(v.start, v.end, v.policy is not None) for v in m.tasks[0].vmas] == [
        (0x10000, 0x1f000, False), (0x1f000, 0x20000, True), (0x30000, 0x31000, False)]


def test_mbind_default_may_span_holes(m):
    m.mmap(0x30000, 0x1000)
    m.mbind(0x10000, 0x10000, MPOL_BIND, {1})
    m.mbind(0x30000, 0x1000, MPOL_BIND, {1})
    assert m.mbind(0x10000, 0x21000, MPOL_DEFAULT).ret == 0  # MPOL_MF_DISCONTIG_OK for the default policy
    assert all(v.policy is None for v in m.tasks[0].vmas)


# ---- mbind: splitting and merging VMAs ---------------------------------------------------------------------
def vmas(m, task=0):
    return [(v.start, v.end, v.vm_pgoff, None if v.policy is None else tuple(sorted(v.policy.nodes)))
            for v in m.tasks[task].vmas]


def test_mbind_splits_and_merges_back(m):
    assert m.mbind(0x12000, 0x2000, MPOL_BIND, {1}).ret == 0
    assert vmas(m) == [(0x10000, 0x12000, 0x10, None), (0x12000, 0x14000, 0x12, (1,)), (0x14000, 0x20000, 0x14, None)]
    # the policy goes back to default: vma_merge joins prev, the range and next (case 6)
    assert m.mbind(0x12000, 0x2000, MPOL_DEFAULT).ret == 0
    assert vmas(m) == [(0x10000, 0x20000, 0x10, None)]


def test_mbind_grows_the_previous_vma(m):
    m.mbind(0x12000, 0x2000, MPOL_BIND, {1})
    m.mbind(0x14000, 0x2000, MPOL_BIND, {1})  # head of the next VMA joins prev (case 5)
    assert vmas(m) == [(0x10000, 0x12000, 0x10, None), (0x12000, 0x16000, 0x12, (1,)), (0x16000, 0x20000, 0x16, None)]


def test_mbind_grows_the_next_vma_down(m):
    m.mbind(0x14000, 0x4000, MPOL_BIND, {1})
    m.mbind(0x12000, 0x2000, MPOL_BIND, {1})  # tail of a VMA joins the next one (case 4)
    assert vmas(m) == [(0x10000, 0x12000, 0x10, None), (0x12000, 0x18000, 0x12, (1,)), (0x18000, 0x20000, 0x18, None)]
    m.mbind(0x10000, 0x2000, MPOL_BIND, {1})  # a whole VMA swallowed by the next one (case 8)
    assert vmas(m) == [(0x10000, 0x18000, 0x10, (1,)), (0x18000, 0x20000, 0x18, None)]


def test_mbind_does_not_merge_across_discontiguous_offsets(m):
    m.mmap(0x20000, 0x1000, pgoff=0x99)
    assert vmas(m)[-1] == (0x20000, 0x21000, 0x99, None)
    m.mbind(0x10000, 0x11000, MPOL_BIND, {2})
    assert vmas(m) == [(0x10000, 0x20000, 0x10, (2,)), (0x20000, 0x21000, 0x99, (2,))]


def test_mbind_acts_on_the_calling_tasks_vmas_only(m):
    m.mmap(0x10000, 0x10000, task=1)
    assert m.mbind(0x10000, 0x1000, MPOL_BIND, {1}, task=1).ret == 0
    assert vmas(m, 1)[0] == (0x10000, 0x11000, 0x10, (1,))
    assert vmas(m, 0) == [(0x10000, 0x20000, 0x10, None)]
    assert m.tasks[1].vmas[0].policy.cpuset_mems_allowed == F({0, 1})


def test_mpol_equal_ignores_cpuset_mems_allowed(m):
    other = Mempolicy(MPOL_BIND, nodes=F({1}), cpuset_mems_allowed=F({1}))
    assert m.mpol_equal(BIND1, other)
    assert m.mpol_equal(None, None) and not m.mpol_equal(BIND1, None)
    a = Mempolicy(MPOL_BIND, STATIC, nodes=F({1}), user_nodemask=F({1}))
    assert not m.mpol_equal(a, Mempolicy(MPOL_BIND, STATIC, nodes=F({1}), user_nodemask=F({1, 2})))
    local = Mempolicy(MPOL_PREFERRED, MPOL_F_LOCAL, preferred_node=3)
    assert m.mpol_equal(local, Mempolicy(MPOL_PREFERRED, MPOL_F_LOCAL))


# ---- tasks and mappings ------------------------------------------------------------------------------------
def test_add_task_and_mmap_misuse(m):
    before = m.freeze()
    with pytest.raises(InvalidOperation):
        m.add_task(1)  # in use
    with pytest.raises(InvalidOperation):
        m.add_task(2, {7})  # no such node
    with pytest.raises(InvalidOperation):
        m.add_task(2, ())
    with pytest.raises(InvalidOperation, match="overlaps"):
        m.mmap(0x1f000, 0x2000)
    with pytest.raises(InvalidOperation):
        m.mmap(0x20800, 0x1000)
    assert m.freeze() == before


def test_mmap_merges_touching_anonymous_mappings(m):
    m.mmap(0x20000, 0x1000)
    m.mmap(0x8000, 0x8000)
    assert m.tasks[0].vmas == (VMA(0x8000, 0x21000, 0x8),)


def test_add_task_outside_the_root_cpuset_enables_cpusets():
    m = Kernel419(numa())
    m.add_task(1)
    assert not m.cpusets_on
    m.add_task(2, {0, 1})
    assert m.cpusets_on and m.tasks[2].mems_allowed == F({0, 1}) and m.tasks[2].mempolicy is None
