"""Exchanging whole MAX_ORDER blocks of a zone: the symmetry the explorer may quotient by.

A *unit* is an aligned run of 2^max(MAX_ORDER-1, pageblock_order) pages lying wholly inside one
zone. The buddy of a block below MAX_ORDER-1 lies in the same unit, merging stops at MAX_ORDER-1,
and pageblock operations stay inside a pageblock, so 4.19's allocator never compares pfns of two
different units: it only follows the order of its lists. Relabelling the units of a zone (moving
every page, free-list entry, pcp entry, allocated block, page-table entry, page cache entry and pageblock type of unit
a to unit b)
therefore maps a state's successors onto the successors of the relabelled state. The explorer
assumes this of the model it runs (`--symmetry`) and audits it on sampled transitions.

`canonical(frozen)` picks one state of each orbit in time linear in the state: units are ranked
by where a page of theirs first appears in the ordered lists (free lists, then pcp lists), and
units that appear on no list by their contents, which then tell them fully apart or make them
identical. States are `Kernel419.freeze()`'s FrozenMachine values, read by field name.
"""

from dataclasses import replace

from .frozen import FrozenMachine, FrozenPcp, FrozenZone, build
from .page_table import ZERO_PFN


class UnitSymmetry:
    """The interchangeable units of a booted machine, and canonical forms of its frozen states."""

    def __init__(self, m):
        self.shift = max(m.MAX_ORDER - 1, m.pageblock_order)
        self.unit_pages = 1 << self.shift
        self.mask = self.unit_pages - 1
        self.pb_shift = m.pageblock_order
        self.pb_per_unit = 1 << (self.shift - m.pageblock_order)
        self.groups = []  # per zone: the unit numbers of its whole units, ascending
        for z in m.populated_zones:
            first = -(-z.zone_start_pfn // self.unit_pages)
            units = tuple(range(first, z.zone_end_pfn >> self.shift))
            if len(units) >= 2:
                self.groups.append(units)
        self.group_of = {u: g for g, units in enumerate(self.groups) for u in units}

    @property
    def trivial(self):
        return not self.groups

    def describe(self):
        sizes = ", ".join(str(len(g)) for g in self.groups)
        return f"symmetry: interchangeable {self.unit_pages}-page units per zone ({sizes})"

    # ---- canonical form ------------------------------------------------------------------
    def canonical(self, frozen):
        """The orbit's representative: equal for two states exactly when one relabels the other."""
        unit_map = self.canonical_map(frozen)
        return self.relabel(frozen, unit_map) if unit_map else frozen

    def canonical_map(self, frozen):
        """{old unit: new unit} taking `frozen` to its canonical form (identity entries left out)."""
        shift, group_of = self.shift, self.group_of
        ranked = [[] for _ in self.groups]
        seen = set()
        for lst in _ordered_lists(frozen):
            for pfn in lst:
                u = pfn >> shift
                if u not in seen:
                    seen.add(u)
                    g = group_of.get(u)
                    if g is not None:
                        ranked[g].append(u)
        contents = None
        unit_map = {}
        for g, units in enumerate(self.groups):
            order = ranked[g]
            if len(order) < len(units):
                rest = [u for u in units if u not in seen]
                if len(rest) > 1:
                    if contents is None:
                        contents = self._contents(frozen)
                    rest.sort(key=lambda u: contents.get(u, ()))
                order = order + rest
            for new, old in zip(units, order):
                if new != old:
                    unit_map[old] = new
        return unit_map

    def _contents(self, frozen):
        """Everything a unit holds that no list orders: pfn-keyed maps and its pageblock types."""
        shift, mask = self.shift, self.mask
        out = {}
        for tag, items in ((0, frozen.page_buddy), (1, frozen.pcp_mt), (2, frozen.allocated)):
            for pfn, value in items:
                out.setdefault(pfn >> shift, []).append((tag, pfn & mask, value))
        for task in frozen.tasks:
            for addr, pfn, order in task.page_table:
                if pfn != ZERO_PFN:
                    out.setdefault(pfn >> shift, []).append((4, pfn & mask, (task.tid, addr, order)))
        for inode in frozen.inodes:
            for index, pfn in inode.pages:
                out.setdefault(pfn >> shift, []).append((5, pfn & mask, (inode.ino, index)))
        flags = frozen.pageblock_flags
        for u in self.group_of:
            base = u * self.pb_per_unit
            out.setdefault(u, []).append((3, tuple(flags[base:base + self.pb_per_unit])))
        return {u: tuple(v) for u, v in out.items()}

    # ---- relabelling ---------------------------------------------------------------------
    def relabel(self, frozen, unit_map):
        """The frozen state with every unit u moved to unit_map[u] (a permutation within groups)."""
        f = self.pfn_map(unit_map)

        def lists_of(per_order):
            # most lists are empty: keep those (and all-empty orders) as they are
            return tuple(tuple([f(p) for p in lst]) if lst else lst for lst in per_order) if any(per_order) \
                else per_order

        new_zones = tuple(
            build(FrozenZone, (
                tuple(lists_of(per_order) for per_order in z.free_lists), z.nr_free, z.nr_free_pages,
                z.nr_free_cma_pages, z.nr_reserved_highatomic, z.nr_isolate_pageblock,
                tuple(build(FrozenPcp, (p.count, lists_of(p.lists))) for p in z.pcp)))
            for z in frozen.zones)
        pageblocks = frozen.pageblock_flags
        flags = list(pageblocks)
        per = self.pb_per_unit
        for old, new in unit_map.items():
            flags[new * per:(new + 1) * per] = pageblocks[old * per:(old + 1) * per]
        pcp_mt = frozen.pcp_mt
        return build(FrozenMachine, (
            new_zones,
            tuple(sorted([(f(p), v) for p, v in frozen.page_buddy])),
            tuple(sorted([(f(p), v) for p, v in pcp_mt])) if pcp_mt else pcp_mt,
            tuple(sorted([(f(p), v) for p, v in frozen.allocated])),
            tuple(flags),
            tuple(_relabel_task(t, f) for t in frozen.tasks),
            frozen.cpusets_on,
            frozen.sysctls,
            tuple(_relabel_inode(i, f) for i in frozen.inodes),
        ))

    def pfn_map(self, unit_map):
        """The relabelling as a function on pfns (for operations that name a pfn)."""
        shift, mask = self.shift, self.mask

        def f(pfn):
            u = unit_map.get(pfn >> shift)
            return pfn if u is None else (u << shift) | (pfn & mask)

        return f

    def swaps(self):
        """Non-trivial relabellings for audits: each pair of neighbouring units of each group, exchanged."""
        return [{a: b, b: a} for units in self.groups for a, b in zip(units, units[1:])]


def _relabel_task(task, f):
    """The task with the pages its page table maps relabelled (a task mapping nothing is kept as it is)."""
    if not task.page_table:
        return task
    table = tuple((addr, pfn if pfn == ZERO_PFN else f(pfn), order) for addr, pfn, order in task.page_table)
    return task._replace(page_table=table)


def _relabel_inode(inode, f):
    """The file or shmem object with its cached pages relabelled."""
    if not inode.pages:
        return inode
    return replace(inode, pages=tuple(sorted((index, f(pfn)) for index, pfn in inode.pages)))


def _ordered_lists(frozen):
    """Every list whose order is state, zone by zone: the free lists, then the per-cpu lists."""
    for z in frozen.zones:
        for per_order in z.free_lists:
            yield from per_order
        for p in z.pcp:
            yield from p.lists
