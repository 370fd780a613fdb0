"""LTP's get_mempolicy tests stated against the model (catalogue: tests/ltp_expectations.py).

get_mempolicy01 sets a policy, on the task with set_mempolicy or on a fresh 4 MiB mapping with mbind,
and reads it back: flags 0 report the task policy, MPOL_F_ADDR the policy of the mapping at the
address. It passes the libnuma mask's size (MAX_NUMNODES here) as maxnode to every call, NULL and 0
when a case has no target, and its test node is the first memory node. get_mempolicy02 holds the two
failures: an address in no mapping with MPOL_F_ADDR, and flags of -1.
"""

import pytest
from ltp_helpers import BASE, numa_machine

from buddycheck.model.mempolicy import (
    EFAULT,
    EINVAL,
    MPOL_BIND,
    MPOL_DEFAULT,
    MPOL_F_ADDR,
    MPOL_INTERLEAVE,
    MPOL_PREFERRED,
)

MEM_LENGTH = 4 * 1024 * 1024
TEST_NODE = 0
MPOL_WEIGHTED_INTERLEAVE = 6  # Linux 6.9


def set_policy(m, mode, with_target, on_range):
    """set_mempolicy or mbind (on a fresh mapping at BASE) with {TEST_NODE} or NULL; returns the ret."""
    nodes, maxnode = ({TEST_NODE}, m.topology.max_numnodes) if with_target else (None, 0)
    if not on_range:
        return m.set_mempolicy(mode, nodes, maxnode=maxnode).ret
    m.mmap(BASE, MEM_LENGTH)
    return m.mbind(BASE, MEM_LENGTH, mode, nodes, maxnode=maxnode).ret


CASES = [  # (mode, with a target node, expected mask reported)
    pytest.param(MPOL_DEFAULT, False, frozenset(), id="default"),
    pytest.param(MPOL_BIND, True, frozenset({TEST_NODE}), id="bind"),
    pytest.param(MPOL_INTERLEAVE, True, frozenset({TEST_NODE}), id="interleave"),
    pytest.param(MPOL_PREFERRED, False, frozenset(), id="preferred-no-target"),
    pytest.param(MPOL_PREFERRED, True, frozenset({TEST_NODE}), id="preferred"),
]


@pytest.mark.parametrize("mode, with_target, mask", CASES)
def test_get_mempolicy01_task_policy_reads_back(mode, with_target, mask):
    """LTP get_mempolicy01, the cases without MPOL_F_ADDR: after set_mempolicy(mode, mask) returns 0,
    get_mempolicy(flags 0) returns 0 with that mode and mask (MPOL_DEFAULT and local allocation:
    no node).
    """
    m = numa_machine(2)
    assert set_policy(m, mode, with_target, on_range=False) == 0
    r = m.get_mempolicy(0, 0)
    assert (r.ret, r.policy, r.nodes) == (0, mode, mask)


@pytest.mark.parametrize("mode, with_target, mask", CASES)
def test_get_mempolicy01_range_policy_reads_back(mode, with_target, mask):
    """LTP get_mempolicy01, the MPOL_F_ADDR cases: after mbind(mode, mask) on a fresh mapping returns
    0, get_mempolicy(MPOL_F_ADDR) at its start returns 0 with that mode and mask, while the task
    policy stays the default.
    """
    m = numa_machine(2)
    assert set_policy(m, mode, with_target, on_range=True) == 0
    r = m.get_mempolicy(MPOL_F_ADDR, BASE)
    assert (r.ret, r.policy, r.nodes) == (0, mode, mask)
    assert m.get_mempolicy(0, 0).policy == MPOL_DEFAULT


@pytest.mark.parametrize("flags, addr, errno", [
    pytest.param(MPOL_F_ADDR, 0, EFAULT, id="no-mapping-at-address-efault"),
    pytest.param(0xFFFFFFFF, 0, EINVAL, id="invalid-flags-einval"),
])
def test_get_mempolicy02_failures(flags, addr, errno):
    """LTP get_mempolicy02 (and get_mempolicy01's old cases 10 and 11): MPOL_F_ADDR at address NULL,
    where nothing is mapped, fails with EFAULT; flags of -1 fail with EINVAL. Nothing changes.
    """
    m = numa_machine(2)
    m.mmap(BASE, MEM_LENGTH)
    before = m.freeze()
    assert m.get_mempolicy(flags, addr).ret == -errno
    assert m.freeze() == before


def test_get_mempolicy01_weighted_interleave_is_an_unknown_mode_in_4_19():
    """LTP get_mempolicy01 as a posted series extends it (Linux 6.9 and later): a task policy
    MPOL_WEIGHTED_INTERLEAVE over the test node reads back as mode 6; 4.19 refuses set_mempolicy with
    mode 6 with EINVAL and keeps the default policy.
    """
    m = numa_machine(2)
    assert set_policy(m, MPOL_WEIGHTED_INTERLEAVE, True, on_range=False) == -EINVAL
    r = m.get_mempolicy(0, 0)
    assert (r.ret, r.policy, r.nodes) == (0, MPOL_DEFAULT, frozenset())
