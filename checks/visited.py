"""What a breadth-first search remembers: the states it has seen and how it reached each one.

`FingerprintSet` is an open-addressing hash set of 64-bit fingerprints in one flat array (8 bytes a
slot, at most half full), so a stored state costs 16 to 32 bytes there, against thousands for a
frozen state in a Python set. `ExactSet` keeps whole states, for a search that must rule out
fingerprint collisions. `ParentMap` holds, per BFS level, three flat arrays: each state's key (its
fingerprint), the index of its parent in the level before, and the index of the operation in
`actions(parent)` that reached it; a trace is rebuilt by replaying those indices from the initial
state, so no state and no operation object is kept for it.
"""

import sys
from array import array


class FingerprintSet:
    """A set of non-zero 64-bit integers (0 marks an empty slot), linear probing, kept at most half full."""

    def __init__(self, capacity=1 << 10):
        self._slots = array("Q", bytes(8 * capacity))
        self._mask = capacity - 1
        self._used = 0

    def __len__(self):
        return self._used

    def __contains__(self, fp):
        slots, mask = self._slots, self._mask
        i = fp & mask
        while True:
            v = slots[i]
            if v == fp:
                return True
            if not v:
                return False
            i = (i + 1) & mask

    def add(self, fp):
        """Insert `fp`; False when it was already there."""
        slots, mask = self._slots, self._mask
        i = fp & mask
        while True:
            v = slots[i]
            if v == fp:
                return False
            if not v:
                break
            i = (i + 1) & mask
        slots[i] = fp
        self._used += 1
        if 2 * self._used > len(slots):
            self._grow()
        return True

    def _grow(self):
        old = self._slots
        capacity = 2 * len(old)
        slots = self._slots = array("Q", bytes(8 * capacity))
        mask = self._mask = capacity - 1
        for fp in old:
            if fp:
                i = fp & mask
                while slots[i]:
                    i = (i + 1) & mask
                slots[i] = fp

    @property
    def nbytes(self):
        return sys.getsizeof(self._slots)


class ExactSet:
    """Whole (canonical) states: no collision is possible, at the cost of each state's size."""

    nbytes = None  # the states' own sizes are not measured

    def __init__(self):
        self._states = set()

    def __len__(self):
        return len(self._states)

    def __contains__(self, state):
        return state in self._states

    def add(self, state):
        if state in self._states:
            return False
        self._states.add(state)
        return True


class ParentMap:
    """Per level: key, parent index and operation index of each state, in the order the search stored them."""

    def __init__(self, exact=False):
        self._exact = exact  # an exact search keys its states by the states themselves (a list, not an array)
        self.keys, self.parents, self.ops = [], [], []  # one of each per level

    def new_level(self):
        """Open the next level; the index of the first state stored there is 0."""
        self.keys.append([] if self._exact else array("Q"))
        self.parents.append(array("I"))
        self.ops.append(array("I"))

    def add(self, key, parent, op_index):
        """Store a state of the last level reached by operation `op_index` from state `parent`; its index."""
        self.keys[-1].append(key)
        self.parents[-1].append(parent)
        self.ops[-1].append(op_index)
        return len(self.ops[-1]) - 1

    def path(self, depth, index):
        """The operation indices from the initial state to state `index` of level `depth`."""
        ops = []
        while depth > 0:
            ops.append(self.ops[depth][index])
            index = self.parents[depth][index]
            depth -= 1
        ops.reverse()
        return ops

    def __len__(self):
        return sum(map(len, self.ops))

    @property
    def nbytes(self):
        """The bytes of the arrays (an exact search's key lists count their slots, not their states)."""
        return sum(sys.getsizeof(a) for part in (self.keys, self.parents, self.ops) for a in part)
