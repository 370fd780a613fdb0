"""LTP's OOM tests under a memory policy or a cpuset, stated as far as the model goes (catalogue:
tests/ltp_expectations.py).

oom02 and oom04 let a child write memory until it dies: LTP passes when the child is killed by
SIGKILL or exits with ENOMEM. The model has no OOM killer: it states the part before the kill, where
the pages come from and that the fault which finds no page fails with VM_FAULT_OOM (the model's fault
returns -ENOMEM). oom02 uses the second node for MPOL_BIND and the second and third for
MPOL_INTERLEAVE and MPOL_PREFERRED; oom04 puts the task in a cpuset of the first memory node. As in
LTP, the writer is a child forked after the policy or the cpuset is set, and inherits it.
"""

from collections import Counter

import pytest
from ltp_helpers import BASE, fork_child, free_pages, numa_machine

from buddycheck.model.constants import PAGE_SIZE
from buddycheck.model.mempolicy import ENOMEM, MPOL_BIND, MPOL_INTERLEAVE, MPOL_PREFERRED

NODES, PER_NODE = 3, 64


def write_until_oom(m, parent=0, limit=NODES * PER_NODE + 8):
    """A child of parent writes page after page of a large mapping until a fault fails: (nodes of the
    pages, the failure)."""
    task = fork_child(m, parent)
    m.mmap(BASE, limit * PAGE_SIZE, task=task)
    nodes = []
    for i in range(limit):
        r = m.fault(BASE + i * PAGE_SIZE, task=task)
        if r.ret:
            return nodes, r.ret
        nodes.append(r.nid)
    raise AssertionError(f"{limit} pages written without a failure")


def test_oom02_bind_uses_only_its_node_then_the_fault_fails():
    """LTP oom02, MPOL_BIND on the second node: the child's pages all come from that node; when its 64
    pages are gone the next fault fails with VM_FAULT_OOM (-ENOMEM here), and the other nodes keep
    every free page.
    """
    m = numa_machine(NODES, PER_NODE)
    assert m.set_mempolicy(MPOL_BIND, {1}).ret == 0
    nodes, err = write_until_oom(m)
    assert (nodes, err) == ([1] * PER_NODE, -ENOMEM)
    assert [free_pages(m, n) for n in range(NODES)] == [PER_NODE, 0, PER_NODE]


@pytest.mark.parametrize("mode", [pytest.param(MPOL_INTERLEAVE, id="interleave"),
                                  pytest.param(MPOL_PREFERRED, id="preferred")])
def test_oom02_interleave_and_preferred_spill_before_the_fault_fails(mode):
    """LTP oom02, MPOL_INTERLEAVE and MPOL_PREFERRED over the second and third nodes: these policies
    fall back to other nodes, so the fault fails only once the whole machine is full. Interleave
    alternates 1, 2 by page offset until both are full; preferred takes node 1's pages first.
    """
    m = numa_machine(NODES, PER_NODE)
    assert m.set_mempolicy(mode, {1, 2}).ret == 0
    nodes, err = write_until_oom(m)
    assert (len(nodes), err) == (NODES * PER_NODE, -ENOMEM)
    if mode == MPOL_INTERLEAVE:
        first = (BASE // PAGE_SIZE) % 2  # interleave_nid: the page offset modulo the two nodes
        assert nodes[:2 * PER_NODE] == [(1, 2)[(first + i) % 2] for i in range(2 * PER_NODE)]
    else:
        assert nodes[:PER_NODE] == [1] * PER_NODE
    assert Counter(nodes) == {n: PER_NODE for n in range(NODES)}  # every page of the machine


def test_oom04_cpuset_of_one_node_then_the_fault_fails():
    """LTP oom04 (without memory_migrate): a task in a cpuset whose mems are the first memory node gets
    pages only from it; when its 64 pages are gone the next fault fails, the other nodes untouched.
    """
    m = numa_machine(NODES, PER_NODE)
    m.add_task(1, {0})
    nodes, err = write_until_oom(m, parent=1)
    assert (nodes, err) == ([0] * PER_NODE, -ENOMEM)
    assert [free_pages(m, n) for n in range(NODES)] == [0, PER_NODE, PER_NODE]
