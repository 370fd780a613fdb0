"""Node masks (include/linux/nodemask.h, lib/nodemask.c, lib/bitmap.c; Linux 4.19).

A nodemask_t is a bitmap of MAX_NUMNODES bits. Here a node mask is a
`frozenset` of node ids (the set bits), because that is what the rest of the
model passes around (Task.mems_allowed, the nodemask of
__alloc_pages_nodemask). Plain functions, not kernel functions: they are
library code that no variant changes.

MAX_NUMNODES is a parameter of the machine (`k.topology.max_numnodes`,
64 by default, up to 1024). The functions whose result depends on it take it
as an argument: `first_node`, `next_node`, `next_node_in` return MAX_NUMNODES
for "no such node", and only look at bits below it, as find_first_bit and
find_next_bit over MAX_NUMNODES bits do. The other functions (weight, remap,
fold, onto, relative) give the same result for every MAX_NUMNODES as long as
the masks hold only bits below it, which every mask of the model does (the
system calls reject higher bits, see get_nodes in model/mempolicy.py).

Abstracted away: the word layout of the bitmap (BITS_PER_LONG matters only to
get_nodes and copy_nodes_to_user, which model it themselves); the in-place
no-op of bitmap_remap/bitmap_onto/bitmap_fold when source and destination are
the same buffer (the kernel never calls them that way for nodemasks).
`nodes_fold(orig, 0)` divides by zero in the kernel; here it raises
ValueError (mpol_relative_nodemask never folds by 0, see its docstring).
"""

__all__ = [
    "first_node", "__first_node", "next_node", "__next_node", "next_node_in", "__next_node_in",
    "nodes_weight", "node_remap", "nodes_remap", "nodes_fold", "nodes_onto", "mpol_relative_nodemask",
    "nodemask_str",
]


def _sorted_bits(mask, nbits=None):
    """The set bits of a mask in ascending order (only those below nbits when it is given)."""
    if nbits is None:
        return sorted(mask)
    return sorted(b for b in mask if 0 <= b < nbits)


def __first_node(mask, max_numnodes):
    """__first_node(): the lowest node in mask, or MAX_NUMNODES if there is none."""
    bits = [b for b in mask if 0 <= b < max_numnodes]
    return min(bits) if bits else max_numnodes


def first_node(mask, max_numnodes):
    """first_node(): the lowest node in mask, or MAX_NUMNODES for an empty mask."""
    return __first_node(mask, max_numnodes)


def __next_node(n, mask, max_numnodes):
    """__next_node(): the lowest node in mask above n, or MAX_NUMNODES if there is none."""
    bits = [b for b in mask if n < b < max_numnodes]
    return min(bits) if bits else max_numnodes


def next_node(n, mask, max_numnodes):
    """next_node(): the lowest node in mask above n, or MAX_NUMNODES."""
    return __next_node(n, mask, max_numnodes)


def __next_node_in(node, mask, max_numnodes):
    """__next_node_in(): the next node of mask after node, wrapping to the first; MAX_NUMNODES if mask is empty."""
    ret = __next_node(node, mask, max_numnodes)
    if ret == max_numnodes:
        ret = __first_node(mask, max_numnodes)
    return ret


def next_node_in(node, mask, max_numnodes):
    """next_node_in(): __next_node_in()."""
    return __next_node_in(node, mask, max_numnodes)


def nodes_weight(mask):
    """nodes_weight(): the number of nodes in mask (bitmap_weight)."""
    return len(mask)


def _pos_to_ord(mask, pos):
    """bitmap_pos_to_ord(): how many set bits of mask lie below pos, or -1 if pos is not set."""
    if pos not in mask:
        return -1
    return sum(1 for b in mask if b < pos)


def _ord_to_pos(bits, ord_):
    """bitmap_ord_to_pos()/find_nth_bit() over an ascending list of set bits."""
    return bits[ord_]


def node_remap(oldbit, old, new):
    """node_remap() (bitmap_bitremap): the n-th node of old goes to the (n mod weight(new))-th node of new.

    A node that is not in old, or any node when new is empty, maps to itself.
    """
    w = len(new)
    n = _pos_to_ord(old, oldbit)
    if n < 0 or w == 0:
        return oldbit
    return _ord_to_pos(_sorted_bits(new), n % w)


def nodes_remap(src, old, new):
    """nodes_remap() (bitmap_remap): node_remap() of every node of src, as one mask."""
    w = len(new)
    new_bits = _sorted_bits(new)
    out = set()
    for oldbit in src:
        n = _pos_to_ord(old, oldbit)
        if n < 0 or w == 0:
            out.add(oldbit)
        else:
            out.add(new_bits[n % w])
    return frozenset(out)


def nodes_fold(orig, sz):
    """nodes_fold() (bitmap_fold): { b mod sz : b in orig }."""
    if sz <= 0:
        raise ValueError(f"nodes_fold: size {sz} must be positive (the kernel would divide by zero)")
    return frozenset(b % sz for b in orig)


def nodes_onto(orig, relmap):
    """nodes_onto() (bitmap_onto): the m-th node of relmap is in the result iff m is in orig."""
    return frozenset(n for m, n in enumerate(_sorted_bits(relmap)) if m in orig)


def mpol_relative_nodemask(orig, rel):
    """mpol_relative_nodemask(): orig folded by weight(rel), then mapped onto rel.

    Node i of orig stands for the (i mod weight(rel))-th node of rel. The
    kernel never calls it with an empty rel (a cpuset always has a node); the
    model returns the empty mask then, which is what nodes_onto() onto an empty
    relmap gives.
    """
    w = nodes_weight(rel)
    if w == 0:
        return frozenset()
    return nodes_onto(nodes_fold(orig, w), rel)


def nodemask_str(mask):
    """A node mask as the kernel prints it with %*pbl: ranges, e.g. "0,2-3,5" ("" when empty)."""
    bits = _sorted_bits(mask)
    parts = []
    i = 0
    while i < len(bits):
        j = i
        while j + 1 < len(bits) and bits[j + 1] == bits[j] + 1:
            j += 1
        parts.append(str(bits[i]) if i == j else f"{bits[i]}-{bits[j]}")
        i = j + 1
    return ",".join(parts)
