"""Node mask primitives (model/nodemask.py) against nodemask.h and lib/bitmap.c semantics.

Expected values come from the kernel's own worked examples in lib/bitmap.c
(bitmap_remap, bitmap_bitremap, bitmap_onto and its fold+onto table),
Documentation/admin-guide/mm/numa_memory_policy.rst and 4.19's mm/page_alloc.c and mm/mempolicy.c
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buddycheck.model.nodemask import (
    __first_node,
    __next_node_in,
    first_node,
    mpol_relative_nodemask,
    next_node,
    next_node_in,
    node_remap,
    nodemask_str,
    nodes_fold,
    nodes_onto,
    nodes_remap,
    nodes_weight,
)

F = frozenset


@pytest.mark.parametrize("max_numnodes", [64, 1024])
def test_first_node_is_lowest_or_max_numnodes(max_numnodes):
    assert first_node(F({6, 3, 1}), max_numnodes) == 1
    assert __first_node(F({6, 3, 1}), max_numnodes) == 1
    # empty mask: find_first_bit returns the size, MAX_NUMNODES
    assert first_node(F(), max_numnodes) == max_numnodes


def test_first_node_looks_only_below_max_numnodes():
    # a nodemask_t has MAX_NUMNODES bits; bit 70 does not exist in a 64-bit mask
    assert first_node(F({70}), 64) == 64
    assert first_node(F({70}), 128) == 70


def test_next_node_strictly_after_n():
    mask = F({1, 3, 6})
    assert next_node(1, mask, 64) == 3
    assert next_node(2, mask, 64) == 3
    assert next_node(6, mask, 64) == 64  # none after 6: MAX_NUMNODES
    assert next_node(-1, mask, 64) == 1
    assert next_node(63, mask, 64) == 64


def test_next_node_in_wraps_to_first_and_is_max_only_for_empty():
    mask = F({1, 3, 6})
    assert next_node_in(3, mask, 64) == 6
    assert next_node_in(6, mask, 64) == 1  # wraps
    assert next_node_in(63, mask, 64) == 1  # il_prev = MAX_NUMNODES-1 gives the lowest node
    assert __next_node_in(1023, mask, 1024) == 1
    assert next_node_in(5, F(), 64) == 64
    assert next_node_in(4, F({4}), 64) == 4  # a single node always comes back


def test_next_node_in_sequence_over_gappy_mask():
    # process interleave over {1,3,6} starting from il_prev = MAX_NUMNODES-1: 1,3,6,1,3,6,1
    seq, prev = [], 63
    for _ in range(7):
        prev = next_node_in(prev, F({1, 3, 6}), 64)
        seq.append(prev)
    assert seq == [1, 3, 6, 1, 3, 6, 1]


def test_nodes_weight():
    assert nodes_weight(F()) == 0
    assert nodes_weight(F({0, 5, 63})) == 3


def test_node_remap_kernel_example():
    # lib/bitmap.c bitmap_bitremap: old = bits 4..7, new = bits 12..15: 5 -> 13
    old, new = F(range(4, 8)), F(range(12, 16))
    assert node_remap(5, old, new) == 13
    assert node_remap(4, old, new) == 12
    assert node_remap(2, old, new) == 2  # not in old: identity


def test_node_remap_wraps_modulo_weight_of_new():
    # the n-th node of old goes to the (n mod w)-th node of new: old {0,1,2,3}, new {2,3}
    old, new = F({0, 1, 2, 3}), F({2, 3})
    assert [node_remap(b, old, new) for b in range(4)] == [2, 3, 2, 3]


def test_node_remap_empty_new_is_identity():
    assert node_remap(1, F({0, 1}), F()) == 1


def test_nodes_remap_kernel_example():
    # lib/bitmap.c bitmap_remap: src {1,5,7}, old 4..7, new 12..15 -> {1,13,15}
    assert nodes_remap(F({1, 5, 7}), F(range(4, 8)), F(range(12, 16))) == F({1, 13, 15})


def test_nodes_remap_can_merge_nodes():
    # two old nodes with the same rank mod w land on one new node
    assert nodes_remap(F({0, 2}), F({0, 1, 2}), F({5, 7})) == F({5})


def test_nodes_onto_kernel_example():
    # lib/bitmap.c bitmap_onto example [1]: relmap 30..39, orig {1,3,5,7,9,11} -> {31,33,35,37,39}
    assert nodes_onto(F({1, 3, 5, 7, 9, 11}), F(range(30, 40))) == F({31, 33, 35, 37, 39})


def test_nodes_onto_empty_inputs_give_empty():
    assert nodes_onto(F({0, 1}), F()) == F()
    assert nodes_onto(F(), F({3, 4})) == F()
    assert nodes_onto(F({5}), F({3, 4})) == F()  # orig bit 5 >= weight 2: mapped nowhere


RELMAP = F({40, 41, 42, 43, 45, 48, 53, 61, 74, 95})


@pytest.mark.parametrize("orig, folded, result", [
    # lib/bitmap.c example [2]: bitmap_fold(weight(relmap)=10) then bitmap_onto(relmap)
    ({0}, {0}, {40}),
    ({1}, {1}, {41}),
    ({9}, {9}, {95}),
    ({10}, {0}, {40}),
    ({1, 3, 5, 7}, {1, 3, 5, 7}, {41, 43, 48, 61}),
    ({0, 1, 2, 3, 4}, {0, 1, 2, 3, 4}, {40, 41, 42, 43, 45}),
    ({0, 9, 18, 27}, {0, 9, 8, 7}, {40, 61, 74, 95}),
    ({0, 10, 20, 30}, {0}, {40}),
    ({0, 11, 22, 33}, {0, 1, 2, 3}, {40, 41, 42, 43}),
    ({0, 12, 24, 36}, {0, 2, 4, 6}, {40, 42, 45, 53}),
    ({78, 102, 211}, {1, 2, 8}, {41, 42, 74}),
])
def test_fold_then_onto_kernel_table(orig, folded, result):
    assert nodes_fold(F(orig), nodes_weight(RELMAP)) == F(folded)
    assert nodes_onto(F(folded), RELMAP) == F(result)
    assert mpol_relative_nodemask(F(orig), RELMAP) == F(result)


def test_nodes_fold_by_zero_is_rejected():
    with pytest.raises(ValueError, match="nodes_fold"):
        nodes_fold(F({1}), 0)


def test_mpol_relative_nodemask_examples():
    # mpol_relative_nodemask: user {0,2}, allowed {4,5,6}: fold by 3 = {0,2}, onto = {4,6}
    assert mpol_relative_nodemask(F({0, 2}), F({4, 5, 6})) == F({4, 6})
    # numa_memory_policy.rst: user 2-5 relative to 3-7 -> 3,5-7; relative to 0,2-3,5 -> 0,2-3,5
    assert mpol_relative_nodemask(F({2, 3, 4, 5}), F({3, 4, 5, 6, 7})) == F({3, 5, 6, 7})
    assert mpol_relative_nodemask(F({2, 3, 4, 5}), F({0, 2, 3, 5})) == F({0, 2, 3, 5})
    # the kernel never passes an empty rel; the model returns empty instead of dividing by zero
    assert mpol_relative_nodemask(F({1}), F()) == F()


def test_nodemask_str_is_a_kernel_nodelist():
    assert nodemask_str(F({0, 2, 3, 5})) == "0,2-3,5"
    assert nodemask_str(F({3, 5, 6, 7})) == "3,5-7"
    assert nodemask_str(F()) == ""


masks = st.frozensets(st.integers(0, 15), max_size=8)


@given(masks.filter(bool), st.integers(0, 15))
def test_next_node_in_cycles_through_the_mask_in_order(mask, start):
    # from any node, weight(mask) steps visit every node of the mask once, ascending with wrap-around
    seen, prev = [], start
    for _ in range(len(mask)):
        prev = next_node_in(prev, mask, 16)
        seen.append(prev)
    assert sorted(seen) == sorted(mask)
    after = sorted(b for b in mask if b > start)
    assert seen[0] == (after[0] if after else min(mask))


@given(masks, masks, masks)
def test_nodes_remap_is_node_remap_of_each_node(src, old, new):
    assert nodes_remap(src, old, new) == F(node_remap(b, old, new) for b in src)
