"""A stand-alone brute-force model of the buddy-core machine, for cross-checking the explorer.

Deliberately shares no code with buddycheck: it is written from the 4.19 rules alone
(mm/page_alloc.c: expand, __rmqueue_smallest, __free_one_page) so that a mistake in the project's model
and the same mistake here would have to be made twice, independently.

The machine: one zone of `pages` pages from pfn 0, MAX_ORDER `max_order`, one migratetype,
zero watermarks and reserves, per-cpu lists that never hold a page between operations.

A state is a pair `(free, allocated)`:
- `free`: one tuple per order 0..MAX_ORDER-1, the head pfns of that order's free list, list
  head first (the kernel's list_head order);
- `allocated`: a sorted tuple of (pfn, order) of the blocks handed out.

Rules, restated:
- Boot (__free_pages_memory): from pfn 0 upwards, free the largest chunk that is aligned at the
  current pfn, at most MAX_ORDER-1, and fits below the end of the zone; each chunk goes through
  the same free path as a runtime free.
- Allocation of order o (__rmqueue_smallest + expand): the watermark test first (zero marks: the
  free page count minus 2^o - 1 must stay above 0, and for o > 0 some free list of order >= o
  must be non-empty), then the head of the smallest non-empty list at order >= o; split down to o
  keeping the low half each time, each upper half pushed on the head of its order's list.
  Nothing found: the request fails and the state is unchanged.
- Free of a block (__free_one_page): while below MAX_ORDER-1, merge with the buddy (pfn xor 2^o)
  when the buddy is a free block of exactly that order inside the zone; then, if the final order
  is below MAX_ORDER-2 and the parent's buddy (parent = pfn with bit o cleared, its buddy =
  parent xor 2^(o+1)) is a free block of order o+1, add at the list tail, else at the head.
"""

from collections import deque
from dataclasses import dataclass
from itertools import permutations


@dataclass(frozen=True)
class BruteResult:
    """What a brute-force exhaustion found."""

    states: int
    depth: int  # the largest BFS distance of any reachable state from boot
    transitions: int  # (state, operation) pairs explored, failed allocations included


class BruteBuddy:
    """The buddy-core machine of `pages` pages and MAX_ORDER `max_order`, as pure state functions."""

    def __init__(self, pages, max_order):
        if pages < 1 or max_order < 1:
            raise ValueError("pages and max_order must be positive")
        self.pages = pages
        self.max_order = max_order

    # ---- helpers over a state -------------------------------------------------------------
    def free_map(self, free):
        """pfn -> order of every free block."""
        out = {}
        for order, lst in enumerate(free):
            for pfn in lst:
                out[pfn] = order
        return out

    def free_pages(self, free):
        return sum(len(lst) << order for order, lst in enumerate(free))

    def watermark_ok(self, free, order):
        """The zero-mark watermark test of a request of this order (see the module docstring)."""
        if self.free_pages(free) - ((1 << order) - 1) <= 0:
            return False
        if order == 0:
            return True
        return any(free[o] for o in range(order, self.max_order))

    # ---- the operations -----------------------------------------------------------------------
    def release(self, free, pfn, order):
        """Give the block (pfn, order) back: merge upwards, then list it at the head or the tail."""
        lists = [list(lst) for lst in free]
        where = self.free_map(free)
        top = self.max_order - 1
        while order < top:
            partner = pfn ^ (1 << order)
            if partner >= self.pages or where.get(partner) != order:
                break
            lists[order].remove(partner)
            del where[partner]
            pfn = min(pfn, partner)
            order += 1
        at_tail = False
        if order < self.max_order - 2:
            parent = pfn & ~(1 << order)
            uncle = parent ^ (1 << (order + 1))
            at_tail = uncle < self.pages and where.get(uncle) == order + 1
        if at_tail:
            lists[order].append(pfn)
        else:
            lists[order].insert(0, pfn)
        return tuple(tuple(lst) for lst in lists)

    def take(self, free, order):
        """(new free lists, pfn) of a successful allocation of this order, or None when it fails."""
        if order >= self.max_order or not self.watermark_ok(free, order):
            return None
        for current in range(order, self.max_order):
            if not free[current]:
                continue
            lists = [list(lst) for lst in free]
            pfn = lists[current].pop(0)
            while current > order:
                current -= 1
                lists[current].insert(0, pfn + (1 << current))
            return tuple(tuple(lst) for lst in lists), pfn
        return None

    def boot_chunks(self):
        """The (pfn, order) chunks boot frees, in the order it frees them."""
        chunks = []
        pfn = 0
        while pfn < self.pages:
            order = self.max_order - 1
            while order > 0 and pfn % (1 << order):
                order -= 1
            while pfn + (1 << order) > self.pages:
                order -= 1
            chunks.append((pfn, order))
            pfn += 1 << order
        return chunks

    def initial(self):
        free = tuple(() for _ in range(self.max_order))
        for pfn, order in self.boot_chunks():
            free = self.release(free, pfn, order)
        return free, ()

    def alloc(self, state, order):
        """The state after allocating this order (the same state if the request fails)."""
        free, allocated = state
        got = self.take(free, order)
        if got is None:
            return state
        free, pfn = got
        return free, tuple(sorted(allocated + ((pfn, order),)))

    def free(self, state, pfn):
        """The state after freeing the allocated block at pfn."""
        free, allocated = state
        order = dict(allocated)[pfn]
        rest = tuple(block for block in allocated if block[0] != pfn)
        return self.release(free, pfn, order), rest

    def successors(self, state, orders):
        """(operation, next state) for every operation of the alphabet: each order, then each free."""
        for order in orders:
            yield ("alloc", order), self.alloc(state, order)
        for pfn, _ in state[1]:
            yield ("free", pfn), self.free(state, pfn)

    # ---- symmetry: whole top-order blocks exchanged ------------------------------------------
    def orbit_key(self, state):
        """The smallest relabelling of the state over every permutation of its whole top-order blocks.

        Slow on purpose (n! relabellings): an independent definition of "the same up to exchanging
        blocks" to hold the explorer's linear-time canonical form against.
        """
        size = 1 << (self.max_order - 1)
        blocks = self.pages // size
        best = None
        for perm in permutations(range(blocks)):
            def move(pfn, perm=perm):
                return perm[pfn // size] * size + pfn % size if pfn < blocks * size else pfn

            free, allocated = state
            image = (tuple(tuple(move(p) for p in lst) for lst in free),
                     tuple(sorted((move(p), o) for p, o in allocated)))
            if best is None or image < best:
                best = image
        return best

    # ---- exhaustion ---------------------------------------------------------------------------
    def explore(self, orders, limit=5_000_000, symmetric=False):
        """Breadth-first search of every state reachable from boot with this alphabet.

        symmetric: count orbits under exchanging whole top-order blocks (one state of each expanded).
        """
        key = self.orbit_key if symmetric else (lambda state: state)
        start = self.initial()
        seen = {key(start)}
        frontier = deque([(start, 0)])
        depth = 0
        transitions = 0
        while frontier:
            state, dist = frontier.popleft()
            depth = max(depth, dist)
            for _, nxt in self.successors(state, orders):
                transitions += 1
                k = key(nxt)
                if k not in seen:
                    seen.add(k)
                    if len(seen) > limit:
                        raise RuntimeError(f"more than {limit} states")
                    frontier.append((nxt, dist + 1))
        return BruteResult(len(seen), depth, transitions)

    def reachable(self, orders):
        """Every reachable state (for property checks over the whole space)."""
        start = self.initial()
        seen = {start}
        todo = [start]
        while todo:
            state = todo.pop()
            for _, nxt in self.successors(state, orders):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen
