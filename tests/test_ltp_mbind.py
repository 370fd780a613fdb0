"""LTP's mbind tests stated against the model (catalogue: tests/ltp_expectations.py).

mbind01 is a table of calls on a fresh 4 MiB anonymous mapping: the return value and errno, then for
a call that succeeded the mode and node mask get_mempolicy(MPOL_F_ADDR) reports for its first byte.
The newest mbind01 passes the libnuma mask's size as maxnode (MAX_NUMNODES here) and its test node is
the first memory node. mbind04 binds 16 pages, then writes and counts them.
"""

import pytest
from ltp_helpers import BASE, count_nodes, fault_count_unmap, fork_child, numa_machine, per_node

from buddycheck.model.constants import PAGE_SIZE
from buddycheck.model.mempolicy import (
    EINVAL,
    EIO,
    MPOL_BIND,
    MPOL_DEFAULT,
    MPOL_F_ADDR,
    MPOL_INTERLEAVE,
    MPOL_LOCAL,
    MPOL_MF_MOVE,
    MPOL_MF_MOVE_ALL,
    MPOL_MF_STRICT,
    MPOL_PREFERRED,
)

MEM_LENGTH = 4 * 1024 * 1024
TEST_NODE = 0  # get_allowed_nodes(NH_MEMS, 1): the first node with memory
MPOL_WEIGHTED_INTERLEAVE = 6  # Linux 6.9 (cases from a posted LTP series); past MPOL_MAX in 4.19
UNKNOWN_POLICY = -1  # mbind01's unknown mode
ALL_FLAGS = 0xFFFFFFFF  # mbind01's -1 in the unsigned flags argument
TARGET = "target"  # the mask holds TEST_NODE (mbind01's test_default); None is NULL with maxnode 0


def mbind01(mode, nodes, flags=0):
    """One mbind01 case: (ret, reported mode, reported mask) or (ret, None, None) when mbind failed."""
    m = numa_machine(2)
    m.mmap(BASE, MEM_LENGTH)
    if nodes == TARGET:
        r = m.mbind(BASE, MEM_LENGTH, mode, {TEST_NODE}, maxnode=m.topology.max_numnodes, flags=flags)
    else:
        r = m.mbind(BASE, MEM_LENGTH, mode, None, maxnode=0, flags=flags)
    if r.ret:
        return r.ret, None, None
    got = m.get_mempolicy(MPOL_F_ADDR, BASE)
    assert got.ret == 0, str(got)
    return r.ret, got.policy, got.nodes


@pytest.mark.parametrize("mode, nodes, flags, expected", [
    pytest.param(MPOL_DEFAULT, None, 0, (0, MPOL_DEFAULT, frozenset()), id="default"),
    pytest.param(MPOL_DEFAULT, TARGET, 0, (-EINVAL, None, None), id="default-target-exists"),
    pytest.param(MPOL_BIND, None, 0, (-EINVAL, None, None), id="bind-no-target"),
    pytest.param(MPOL_BIND, TARGET, 0, (0, MPOL_BIND, frozenset({TEST_NODE})), id="bind"),
    pytest.param(MPOL_INTERLEAVE, None, 0, (-EINVAL, None, None), id="interleave-no-target"),
    pytest.param(MPOL_WEIGHTED_INTERLEAVE, None, 0, (-EINVAL, None, None), id="weighted-interleave-no-target"),
    pytest.param(MPOL_INTERLEAVE, TARGET, 0, (0, MPOL_INTERLEAVE, frozenset({TEST_NODE})), id="interleave"),
    pytest.param(MPOL_PREFERRED, TARGET, 0, (0, MPOL_PREFERRED, frozenset({TEST_NODE})), id="preferred"),
    pytest.param(MPOL_LOCAL, TARGET, 0, (-EINVAL, None, None), id="local-target-exists"),
    pytest.param(UNKNOWN_POLICY, None, 0, (-EINVAL, None, None), id="unknown-policy"),
    pytest.param(MPOL_DEFAULT, None, ALL_FLAGS, (-EINVAL, None, None), id="invalid-flags"),
])
def test_mbind01(mode, nodes, flags, expected):
    """LTP mbind01: each case's return value and errno; after a success, the mode and mask
    get_mempolicy(MPOL_F_ADDR) reports (MPOL_DEFAULT reports an empty mask). The unknown mode and the
    weighted-interleave mode without nodes are refused by 4.19 as modes at or past MPOL_MAX.
    """
    assert mbind01(mode, nodes, flags) == expected


@pytest.mark.parametrize("mode", [pytest.param(MPOL_PREFERRED, id="preferred-no-target"),
                                  pytest.param(MPOL_LOCAL, id="local")])
def test_mbind01_local_allocation_reports_preferred_in_4_19(mode):
    """LTP mbind01, cases "MPOL_PREFERRED (no target)" and "MPOL_LOCAL": mbind succeeds and the mode
    reported is MPOL_PREFERRED or MPOL_LOCAL (LTP accepts either before 5.14), with an empty mask for
    MPOL_LOCAL. 4.19's mpol_new turns MPOL_LOCAL into a preferred policy with MPOL_F_LOCAL, so the
    model reports MPOL_PREFERRED and no node for both; from 5.14 LTP requires MPOL_LOCAL itself.
    """
    assert mbind01(mode, None) == (0, MPOL_PREFERRED, frozenset())


def test_mbind01_weighted_interleave_is_an_unknown_mode_in_4_19():
    """LTP mbind01, case "MPOL_WEIGHTED_INTERLEAVE" of a posted series: from Linux 6.9 mbind with mode 6
    and a node succeeds and reports mode 6 and that node; 4.19 has no such mode and refuses it with EINVAL.
    """
    assert mbind01(MPOL_WEIGHTED_INTERLEAVE, TARGET) == (-EINVAL, None, None)


@pytest.mark.parametrize("mode", [pytest.param(MPOL_PREFERRED, id="preferred"), pytest.param(MPOL_BIND, id="bind"),
                                  pytest.param(MPOL_INTERLEAVE, id="interleave")])
@pytest.mark.parametrize("flags", [pytest.param(0, id="no-flags"), pytest.param(MPOL_MF_STRICT, id="strict")])
def test_mbind04_bound_range_faults_all_16_pages_on_the_node(mode, flags):
    """LTP mbind04 (the parent's half): for every memory node n, mbind of 16 fresh pages to {n} with
    flags 0 and with MPOL_MF_STRICT returns 0 (nothing is mapped yet, so STRICT finds nothing
    misplaced); the 16 pages written afterwards are all on n, none elsewhere.
    """
    nodes, pages = 3, 16
    m = numa_machine(nodes)
    for node in range(nodes):
        m.mmap(BASE, pages * PAGE_SIZE)
        assert m.mbind(BASE, pages * PAGE_SIZE, mode, {node}, flags=flags).ret == 0
        counts = fault_count_unmap(m, pages, cpu=(node + 1) % nodes)
        assert per_node(counts, nodes) == tuple(pages if n == node else 0 for n in range(nodes))



@pytest.mark.parametrize("mode", [pytest.param(MPOL_PREFERRED, id="preferred"), pytest.param(MPOL_BIND, id="bind"),
                                  pytest.param(MPOL_INTERLEAVE, id="interleave")])
@pytest.mark.parametrize("flags", [pytest.param(0, id="no-flags"), pytest.param(MPOL_MF_STRICT, id="strict")])
def test_mbind04_the_forked_child_faults_the_bound_range_on_the_node(mode, flags):
    """LTP mbind04 (the child's half): the child forked after the mbind has the mapping with its policy;
    it writes the 16 pages first and finds all of them on n, then the parent writes its own copy of
    the range and finds the same.
    """
    nodes, pages = 3, 16
    m = numa_machine(nodes)
    for node in range(nodes):
        m.mmap(BASE, pages * PAGE_SIZE)
        assert m.mbind(BASE, pages * PAGE_SIZE, mode, {node}, flags=flags).ret == 0
        child = fork_child(m)
        expected = tuple(pages if n == node else 0 for n in range(nodes))
        assert per_node(fault_count_unmap(m, pages, task=child, cpu=(node + 1) % nodes), nodes) == expected
        assert per_node(fault_count_unmap(m, pages, cpu=(node + 1) % nodes), nodes) == expected

MODES = [pytest.param(MPOL_PREFERRED, id="preferred"), pytest.param(MPOL_BIND, id="bind"),
         pytest.param(MPOL_INTERLEAVE, id="interleave")]


def one_page_on_node_0():
    m = numa_machine(2)
    m.mmap(BASE, PAGE_SIZE)
    assert m.fault(BASE, cpu=0).nid == 0
    return m


@pytest.mark.parametrize("mode", MODES)
def test_mbind02_strict_finds_the_page_on_another_node_eio(mode):
    """LTP mbind02: a page written (here on node 0), then mbind(mode, {1}, MPOL_MF_STRICT) fails with
    EIO (the rule of a7f40cfe3b7a, which the model's 4.19 carries); the page stays on node 0.
    """
    m = one_page_on_node_0()
    assert m.mbind(BASE, PAGE_SIZE, mode, {1}, flags=MPOL_MF_STRICT).ret == -EIO
    assert count_nodes(m, BASE, 1) == {0: 1}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("flags", [pytest.param(MPOL_MF_MOVE, id="move"),
                                   pytest.param(MPOL_MF_MOVE_ALL, id="move-all")])
def test_mbind03_move_takes_the_faulted_page_to_the_node(mode, flags):
    """LTP mbind03 (run as root, so MPOL_MF_MOVE_ALL has CAP_SYS_NICE): a page written on node 0, then
    mbind(mode, {1}) with MPOL_MF_MOVE or MPOL_MF_MOVE_ALL returns 0 and the page is counted on node 1.
    """
    m = one_page_on_node_0()
    assert m.mbind(BASE, PAGE_SIZE, mode, {1}, flags=flags, cap_sys_nice=True).ret == 0
    assert count_nodes(m, BASE, 1) == {1: 1}
