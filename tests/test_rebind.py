"""Cpuset changes and policy rebinding (mpol_rebind_*, cpuset_change_task_nodemask, update_nodemask; 4.19).

Worked examples from Documentation/admin-guide/mm/numa_memory_policy.rst
(MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES), the rebind rules of
4.19's mm/page_alloc.c and mm/mempolicy.c, and the difference between 4.19.0 as released and
the stable fix 29b190fa774d. Machines: n nodes with one 16-page Normal zone
and one CPU each, MAX_NUMNODES 64.
"""

import pytest

from buddycheck.model import Kernel419, NodeSpec, Topology, ZoneSpec
from buddycheck.model.constants import ZONE_NORMAL
from buddycheck.model.gfp import GFP_KERNEL
from buddycheck.model.mempolicy import (
    EINVAL,
    ENOSPC,
    ERANGE,
    MPOL_BIND,
    MPOL_F_LOCAL,
    MPOL_F_RELATIVE_NODES,
    MPOL_F_STATIC_NODES,
    MPOL_INTERLEAVE,
    MPOL_LOCAL,
    MPOL_PREFERRED,
    Mempolicy,
)
from buddycheck.model.variants import VARIANTS, Kernel419_0

F = frozenset
STATIC, RELATIVE = MPOL_F_STATIC_NODES, MPOL_F_RELATIVE_NODES


def numa(n, memoryless=()):
    nodes = []
    for i in range(n):
        zones = () if i in memoryless else (
            ZoneSpec(ZONE_NORMAL, i * 16, 16, watermarks=(1, 2, 3), pcp_high_batch=(0, 1)),)
        nodes.append(NodeSpec(i, (i,), zones))
    return Topology(nodes=tuple(nodes), max_order=3, pageblock_order=1, min_free_kbytes=0)


def pol(m, task=0):
    return m.tasks[task].mempolicy


def cpuset(m, task, nodes):
    r = m.set_cpuset(task, nodes)
    assert r.ret == 0, str(r)
    assert m.tasks[task].mems_allowed == F(nodes)


# ---- the documentation's examples --------------------------------------------------------------------------
def test_doc_static_nodes_example():
    # cpuset mems 1-3, Interleave over 1-3; the mems change to 3-5
    m = Kernel419(numa(8))
    m.add_task(1, {1, 2, 3})
    m.add_task(2, {1, 2, 3})
    assert m.set_mempolicy(MPOL_INTERLEAVE | STATIC, {1, 2, 3}, task=1).ret == 0
    assert m.set_mempolicy(MPOL_INTERLEAVE, {1, 2, 3}, task=2).ret == 0
    cpuset(m, 1, {3, 4, 5})
    cpuset(m, 2, {3, 4, 5})
    assert pol(m, 1).nodes == F({3})  # only node 3 of the user's nodes is allowed
    assert pol(m, 2).nodes == F({3, 4, 5})  # without the flag the interleave moves to 3, 4 and 5
    assert [m.alloc_pages(GFP_KERNEL, 0, task=1).nid for _ in range(2)] == [3, 3]
    # none of the user's nodes allowed: mpol_rebind_nodemask falls back to the whole new mask
    cpuset(m, 1, {5, 6})
    assert pol(m, 1).nodes == F({5, 6}) and pol(m, 1).user_nodemask == F({1, 2, 3})


def test_doc_relative_nodes_example():
    # cpuset mems 2-5, Interleave over 2-5 with RELATIVE; mems 3-7 -> interleave over 3,5-7; mems 0,2-3,5 -> 0,2-3,5
    m = Kernel419(numa(8))
    m.add_task(1, {2, 3, 4, 5})
    assert m.set_mempolicy(MPOL_INTERLEAVE | RELATIVE, {2, 3, 4, 5}, task=1).ret == 0
    assert pol(m, 1).nodes == F({2, 3, 4, 5})
    cpuset(m, 1, {3, 4, 5, 6, 7})
    assert pol(m, 1).nodes == F({3, 5, 6, 7})
    cpuset(m, 1, {0, 2, 3, 5})
    assert pol(m, 1).nodes == F({0, 2, 3, 5})


def test_relative_policy_created_in_a_small_cpuset_grows_with_it():
    m = Kernel419(numa(4))
    m.add_task(1, {2, 3})
    m.set_mempolicy(MPOL_BIND | RELATIVE, {0, 1}, task=1)
    assert pol(m, 1).nodes == F({2, 3})  # the 0th and 1st allowed nodes
    cpuset(m, 1, {0, 1, 2, 3})
    assert pol(m, 1).nodes == F({0, 1})


# ---- BIND / INTERLEAVE without flags -----------------------------------------------------------------------
def test_plain_remap_keeps_each_nodes_rank():
    m = Kernel419(numa(4))
    m.set_mempolicy(MPOL_BIND, {0, 1})
    cpuset(m, 0, {2, 3})
    # node 0 is the 0th of {0,1,2,3} -> 0th of {2,3}; node 1 -> 1st
    assert pol(m) == Mempolicy(MPOL_BIND, nodes=F({2, 3}), cpuset_mems_allowed=F({2, 3}))
    assert m.cpusets_on
    # the allocation follows: node 0's zonelist filtered by {2,3} gives node 2
    assert m.alloc_pages(GFP_KERNEL, 0, cpu=0).nid == 2


def test_plain_remap_can_fold_nodes_together():
    m = Kernel419(numa(4))
    m.set_mempolicy(MPOL_INTERLEAVE, {0, 2})
    cpuset(m, 0, {3})
    assert pol(m).nodes == F({3})


def test_interleave_sequence_after_a_rebind():
    m = Kernel419(numa(4))
    m.set_mempolicy(MPOL_INTERLEAVE, {0, 1, 2, 3})
    assert [m.alloc_pages(GFP_KERNEL, 0).nid for _ in range(2)] == [0, 1]
    cpuset(m, 0, {2, 3})
    assert pol(m).nodes == F({2, 3}) and m.tasks[0].il_prev == 1  # rebinding leaves the cursor alone
    # next_node_in(1, {2,3}) = 2, then 3, 2
    assert [m.alloc_pages(GFP_KERNEL, 0).nid for _ in range(3)] == [2, 3, 2]


def test_rebind_is_skipped_when_the_policy_already_follows_these_mems():
    m = Kernel419(numa(4))
    m._begin(0, 0)
    odd = Mempolicy(MPOL_BIND, nodes=F({3}), cpuset_mems_allowed=F({0, 1}))
    assert m.mpol_rebind_policy(odd, {0, 1}) is odd  # nodes_equal(w.cpuset_mems_allowed, new): nothing done
    assert m.mpol_rebind_policy(odd, {0, 2}).nodes == F({3})  # 3 is not in old: remap keeps it
    assert m.mpol_rebind_policy(None, {0}) is None


def test_rebinding_one_task_leaves_other_tasks_alone():
    m = Kernel419(numa(4))
    m.add_task(1, {0, 1, 2, 3})
    m.set_mempolicy(MPOL_INTERLEAVE, {0, 1, 2})
    m.set_mempolicy(MPOL_INTERLEAVE, {0, 1, 2}, task=1)
    m.alloc_pages(GFP_KERNEL, 0)
    before = m.tasks[0].freeze()
    cpuset(m, 1, {2, 3})
    assert m.tasks[0].freeze() == before  # policy and il_prev of task 0 untouched (IL-NEXT-REBIND)
    assert pol(m, 1).nodes == F({2, 3})


# ---- PREFERRED ---------------------------------------------------------------------------------------------
def test_preferred_plain_remap():
    m = Kernel419(numa(4))
    m.set_mempolicy(MPOL_PREFERRED, {1})
    cpuset(m, 0, {2, 3})
    # node_remap(1, {0,1,2,3}, {2,3}): 1 is the 1st node -> 1st of {2,3} = 3
    assert pol(m) == Mempolicy(MPOL_PREFERRED, preferred_node=3, cpuset_mems_allowed=F({2, 3}))


def test_preferred_static_goes_local_and_comes_back():
    m = Kernel419(numa(4))
    m.set_mempolicy(MPOL_PREFERRED | STATIC, {1})
    cpuset(m, 0, {2, 3})
    assert pol(m).flags == STATIC | MPOL_F_LOCAL  # node 1 not allowed: local allocation
    cpuset(m, 0, {0, 1, 2})
    assert (pol(m).flags, pol(m).preferred_node) == (STATIC, 1)


def test_preferred_static_rebinds_to_the_first_user_node_not_the_first_allowed_one():
    m = Kernel419(numa(4))
    m.add_task(1, {1, 2, 3})
    m.set_mempolicy(MPOL_PREFERRED | STATIC, {0, 2}, task=1)
    assert pol(m, 1).preferred_node == 2  # created as first_node(user & allowed)
    cpuset(m, 1, {0, 1, 2, 3})
    assert pol(m, 1).preferred_node == 0  # rebound to first_node(user) since it is now allowed


def test_preferred_relative_and_local():
    m = Kernel419(numa(4))
    m.add_task(1)
    m.set_mempolicy(MPOL_PREFERRED | RELATIVE, {1})
    m.set_mempolicy(MPOL_LOCAL, task=1)
    local = pol(m, 1)
    cpuset(m, 0, {2, 3})
    cpuset(m, 1, {2, 3})
    assert pol(m).preferred_node == 3  # {1} folded by 2 onto {2,3}
    assert pol(m, 1) == local  # local allocation has nothing to rebind


# ---- VMA policies (mpol_rebind_mm) -------------------------------------------------------------------------
def test_vma_policies_are_rebound_with_the_task():
    m = Kernel419(numa(4))
    m.mmap(0x10000, 0x3000)
    m.mbind(0x10000, 0x1000, MPOL_BIND, {1})
    m.mbind(0x11000, 0x1000, MPOL_PREFERRED, {0})
    cpuset(m, 0, {2, 3})
    bind, pref, plain = m.tasks[0].vmas
    assert bind.policy.nodes == F({3})
    assert pref.policy.preferred_node == 2
    assert plain.policy is None



def test_rebinding_does_not_merge_vmas_whose_policies_became_equal():
    m = Kernel419(numa(4))
    m.mmap(0x10000, 0x2000)
    m.mbind(0x10000, 0x1000, MPOL_BIND, {1})
    m.mbind(0x11000, 0x1000, MPOL_BIND, {2})
    cpuset(m, 0, {3})
    # both remap onto {3}; mpol_rebind_mm changes policies only, so two equal neighbours stay apart
    assert [(v.start, v.policy.nodes) for v in m.tasks[0].vmas] == [(0x10000, F({3})), (0x11000, F({3}))]
    m.mmap(0x12000, 0x1000)  # a new mapping joins only neighbours without policy
    assert len(m.tasks[0].vmas) == 3

# ---- the cpuset write itself -------------------------------------------------------------------------------
@pytest.mark.parametrize("nodes, errno", [
    ({64}, ERANGE),  # past MAX_NUMNODES: nodelist_parse fails
    ({0, 7}, EINVAL),  # node 7 is not in the root cpuset
    ({3}, EINVAL),  # node 3 has no memory
    ((), ENOSPC),  # a cpuset with a task cannot lose all its mems
])
def test_set_cpuset_rejects(nodes, errno):
    m = Kernel419(numa(4, memoryless=(3,)))
    m.set_mempolicy(MPOL_BIND, {1})
    before = m.freeze()
    assert m.set_cpuset(0, nodes).ret == -errno
    assert m.freeze() == before and not m.cpusets_on


def test_set_cpuset_to_the_same_mems_changes_nothing_but_enables_cpusets():
    m = Kernel419(numa(4))
    m.set_mempolicy(MPOL_BIND, {1})
    policy = pol(m)
    assert m.set_cpuset(0, {0, 1, 2, 3}).ret == 0
    assert pol(m) is policy and m.cpusets_on


# ---- 4.19.0 as released versus the stable fix --------------------------------------------------------------
@pytest.mark.parametrize("where", ["task", "vma"])
def test_4_19_0_and_the_fix_differ_after_two_cpuset_changes(where):
    got = {}
    for name, cls in VARIANTS.items():
        m = cls(numa(4))
        if where == "task":
            m.set_mempolicy(MPOL_BIND, {1})
        else:
            m.mmap(0x10000, 0x1000)
            m.mbind(0x10000, 0x1000, MPOL_BIND, {1})
        cpuset(m, 0, {0, 1, 2})
        p = pol(m) if where == "task" else m.tasks[0].vmas[0].policy
        assert p.nodes == F({1})  # the first change agrees: node 1 keeps rank 1 of {0,1,2}
        got[name, "w"] = p.cpuset_mems_allowed
        cpuset(m, 0, {2, 3})
        p = pol(m) if where == "task" else m.tasks[0].vmas[0].policy
        got[name] = p.nodes
    # fixed: w = {0,1,2}, node 1 is rank 1 there -> rank 1 of {2,3} = 3
    assert got["4.19", "w"] == F({0, 1, 2}) and got["4.19"] == F({3})
    # 4.19.0: w = the remapped nodes {1}, node 1 is rank 0 there -> rank 0 of {2,3} = 2
    assert got["4.19.0", "w"] == F({1}) and got["4.19.0"] == F({2})


def test_the_variants_agree_on_static_and_relative_policies():
    results = []
    for cls in (Kernel419, Kernel419_0):
        m = cls(numa(4))
        m.add_task(1)
        m.set_mempolicy(MPOL_BIND | STATIC, {1, 2})
        m.set_mempolicy(MPOL_INTERLEAVE | RELATIVE, {1}, task=1)
        for mems in ({0, 1, 2}, {2, 3}, {0, 1, 2, 3}):
            cpuset(m, 0, mems)
            cpuset(m, 1, mems)
        results.append((pol(m), pol(m, 1)))
    assert results[0] == results[1]
    assert results[0][0].nodes == F({1, 2}) and results[0][1].nodes == F({1})


def test_variant_registry():
    assert VARIANTS["4.19"] is Kernel419 and VARIANTS["4.19.0"] is Kernel419_0
    assert Kernel419_0.NAME == "4.19.0" and issubclass(Kernel419_0, Kernel419)
    # only mpol_rebind_nodemask is replaced
    assert Kernel419_0.mpol_rebind_nodemask is not Kernel419.mpol_rebind_nodemask
    assert Kernel419_0.mpol_rebind_preferred is Kernel419.mpol_rebind_preferred
    assert Kernel419_0.mpol_rebind_policy is Kernel419.mpol_rebind_policy


def test_rebinding_a_default_policy_changes_nothing():
    # mpol_ops[MPOL_DEFAULT].rebind is mpol_rebind_default: no-op. 4.19 never stores a DEFAULT policy
    # (mpol_new returns NULL for it), so only a direct call reaches it.
    from buddycheck.model.mempolicy import MPOL_DEFAULT, Mempolicy

    m = Kernel419(Topology(nodes=(NodeSpec(0, (0,), (ZoneSpec(ZONE_NORMAL, 0, 8),)),
                                  NodeSpec(1, (1,), (ZoneSpec(ZONE_NORMAL, 8, 8),)))))
    pol = Mempolicy(MPOL_DEFAULT, cpuset_mems_allowed=frozenset({0, 1}))
    assert m.mpol_rebind_policy(pol, {1}) == pol
    assert m.mpol_rebind_default(pol, frozenset({1})) is pol
