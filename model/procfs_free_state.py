"""A real machine's free state from /proc/buddyinfo (and /proc/pagetypeinfo), scaled onto its imported Topology.

What is read, from the folder of model/procfs_import.py (DIR/proc/...):

- DIR/proc/buddyinfo (4.19's frag_show_print() in mm/vmstat.c): per populated zone, the number of free
  blocks of each order. Its columns are the real machine's orders 0..MAX_ORDER-1.
- DIR/proc/pagetypeinfo, when present (pagetypeinfo_showfree_print() and
  pagetypeinfo_showblockcount_print()): the free blocks of each order per migratetype, and the number of
  pageblocks of each migratetype. The "Number of mixed blocks" table (CONFIG_PAGE_OWNER) is skipped.

The free state is a state of the machine of procfs_import: the zone's free pages are those blocks, and
every other managed page is allocated. The two files need not be one snapshot (they are read one after
the other on a running machine): buddyinfo gives the number of free blocks of each order, pagetypeinfo
only how those blocks divide among the migratetypes.

Scaling (`scale_free_state`), per zone, with the factor of the zone's managed pages (model managed / real
managed, the factor procfs_import scales the watermarks with):

- Orders: a real order below the model's MAX_ORDER keeps its number; the real orders at and above the
  model's top order (MAX_ORDER-1) fold into it, counted in pages (a real order-10 block is 2^(10-k)
  model blocks' worth of order k = MAX_ORDER-1). Thus small blocks stay small (fragmentation stays
  visible) and the large free blocks stay the largest the model has.
- Counts: the free pages of each (folded) order, times the factor, divided by the block size, rounded to
  the nearest whole block (a half rounds up). So every order keeps its share of the zone's free memory to
  within half a block; an order whose scaled share is under half a block has no block.
- Migratetypes (with pagetypeinfo): the blocks of an order are divided among the migratetypes in
  proportion to pagetypeinfo's free pages of that order per type, by largest remainder (ties to the
  lower migratetype); without pagetypeinfo, or when it lists no block of an order buddyinfo has, the
  blocks are Movable (as boot leaves them).
- Layout (`layout_zone`): blocks are placed from the highest order down, lowest pfn first, so that every
  block stays aligned and no two free buddies of one order are both free (a free block below the top
  order keeps at least one allocated page in its buddy, or the kernel would have merged them). A block
  that no longer fits becomes two blocks of the order below, and so on down to order 0, where what does
  not fit is dropped ("as far as the scaled zone allows"): `ScaledZone.counts` is what was placed,
  and the buddyinfo the model prints equals `scaled_buddyinfo()` of those counts. The managed
  pages left over are allocated, as the largest aligned blocks (each one a block a free can name).
- Pageblocks (with the "Number of blocks type" table): the zone's pageblocks are divided among the
  migratetypes in proportion to the table, by largest remainder; each pageblock goes first to the type
  of most free pages in it while that type has pageblocks left, then the rest in pfn order. Without the
  table every pageblock stays Movable. A HighAtomic pageblock counts pageblock_nr_pages in the zone's
  nr_reserved_highatomic, as reserve_highatomic_pageblock() counts it.

Not taken: CMA and Isolate free blocks or pageblocks (an error names them: CMA areas come from the
topology's cma_pageblocks, and an isolated pageblock is an isolation caught halfway, which the model
cannot resume); pages on per-cpu lists (buddyinfo does not count them: they are allocated here).
"""

import os
import re
from dataclasses import dataclass, field

from .constants import MIGRATE_CMA, MIGRATE_ISOLATE, MIGRATE_MOVABLE, MIGRATETYPE_NAMES, ZONE_NAMES
from .errors import ConfigError
from .procfs_import import RealZone, _int, _read

BUDDYINFO = os.path.join("proc", "buddyinfo")
PAGETYPEINFO = os.path.join("proc", "pagetypeinfo")
NOT_TAKEN = (MIGRATE_CMA, MIGRATE_ISOLATE)

BUDDY_LINE = re.compile(r"^Node\s+(\S+),\s+zone\s+(\S+)\s+(.*)$")
FREE_LINE = re.compile(r"^Node\s+(\S+),\s+zone\s+(\S+),\s+type\s+(\S+)\s+(.*)$")
ORDERS_HEADER = re.compile(r"^Free pages count per migrate type at order\s+(.*)$")
BLOCKS_HEADER = re.compile(r"^Number of blocks type\s+(.*)$")
MIXED_HEADER = re.compile(r"^Number of mixed blocks")
PAGEBLOCK_ORDER = re.compile(r"^Page block order:\s*(\S+)\s*$")


@dataclass
class RealZoneFree:
    """One zone's free state as the files print it; `line` is its buddyinfo line."""

    nid: int
    name: str
    line: int
    counts: tuple  # free blocks per real order
    by_type: dict = field(default_factory=dict)  # migratetype -> free blocks per real order (pagetypeinfo)
    blocks: dict = field(default_factory=dict)  # migratetype -> pageblocks (pagetypeinfo)


@dataclass(frozen=True)
class RealFreeState:
    zones: dict  # (nid, zone name) -> RealZoneFree
    orders: int  # the real machine's MAX_ORDER (buddyinfo's columns)
    source: str  # the buddyinfo path


@dataclass(frozen=True)
class ScaledZone:
    """One model zone's free state: blocks per order and migratetype as placed, and the layout itself."""

    nid: int
    zone_type: int
    counts: tuple  # per order: per migratetype, free blocks placed
    free: tuple  # (pfn, order, migratetype), ascending pfn
    allocated: tuple  # (pfn, order, migratetype), ascending pfn
    pageblocks: tuple  # (pfn, migratetype) of every pageblock of the zone


@dataclass(frozen=True)
class FreeLayout:
    """The whole machine's starting free state, the argument of Kernel419.start_free_state."""

    zones: tuple  # ScaledZone per populated zone, in the topology's node and zone order

    def free(self):
        return tuple(b for z in self.zones for b in z.free)

    def allocated(self):
        return tuple(b for z in self.zones for b in z.allocated)

    def pageblocks(self):
        return tuple(p for z in self.zones for p in z.pageblocks)


def _numbers(text, path, lineno, what):
    return tuple(_int(v, path, lineno, what) for v in text.split())


def parse_buddyinfo(lines, path=BUDDYINFO):
    """The zones of a buddyinfo text: {(nid, zone name): RealZoneFree}, and the number of orders."""
    zones, orders = {}, None
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        m = BUDDY_LINE.match(line)
        if m is None:
            raise ConfigError(f"{path}:{lineno}: {line.strip()!r}: not a `Node N, zone NAME counts...` line")
        nid = _int(m.group(1), path, lineno, "node id")
        counts = _numbers(m.group(3), path, lineno, "free blocks")
        if orders is None:
            orders = len(counts)
        if len(counts) != orders:
            bad = max(len(counts), orders) - 1
            raise ConfigError(f"{path}:{lineno}: node {nid} zone {m.group(2)}: {len(counts)} orders, but the "
                              f"first line has {orders}: order {bad} is above MAX_ORDER-1 = {orders - 1} "
                              "of one of them")
        if any(c < 0 for c in counts):
            raise ConfigError(f"{path}:{lineno}: free blocks = {counts}: a count below 0")
        key = (nid, m.group(2))
        if key in zones:
            raise ConfigError(f"{path}:{lineno}: node {nid} zone {m.group(2)} is listed twice")
        zones[key] = RealZoneFree(nid, m.group(2), lineno, counts)
    if not zones:
        raise ConfigError(f"{path}: no `Node N, zone NAME` line: not a /proc/buddyinfo")
    return zones, orders


def _migratetype(name, path, lineno):
    if name not in MIGRATETYPE_NAMES:
        raise ConfigError(f"{path}:{lineno}: migratetype {name!r}: not one of {', '.join(MIGRATETYPE_NAMES)}")
    return MIGRATETYPE_NAMES.index(name)


def parse_pagetypeinfo(lines, orders, path=PAGETYPEINFO):
    """({(nid, zone): {mt: counts}}, {(nid, zone): {mt: pageblocks}}) of a pagetypeinfo text.

    `orders` is buddyinfo's number of orders: the order header must not go beyond it.
    """
    free, blocks = {}, {}
    block_types = None  # the migratetypes of the current blocks table, None outside one
    for lineno, line in enumerate(lines, 1):
        if PAGEBLOCK_ORDER.match(line) or line.startswith("Pages per block"):
            block_types = None
            continue
        header = ORDERS_HEADER.match(line)
        if header:
            block_types = None
            listed = _numbers(header.group(1), path, lineno, "order")
            if listed != tuple(range(len(listed))) or len(listed) > orders:
                raise ConfigError(f"{path}:{lineno}: orders = {listed}: expected 0..{orders - 1}, buddyinfo's "
                                  f"orders (order {len(listed) - 1} is above MAX_ORDER-1 = {orders - 1})")
            continue
        header = BLOCKS_HEADER.match(line)
        if header:
            block_types = tuple(_migratetype(n, path, lineno) for n in header.group(1).split())
            continue
        if MIXED_HEADER.match(line):
            block_types = ()  # its rows are skipped
            continue
        row = FREE_LINE.match(line)
        if row:
            nid = _int(row.group(1), path, lineno, "node id")
            counts = _numbers(row.group(4), path, lineno, "free blocks")
            if len(counts) > orders:
                raise ConfigError(f"{path}:{lineno}: node {nid} zone {row.group(2)} type {row.group(3)}: "
                                  f"{len(counts)} orders: order {len(counts) - 1} is above MAX_ORDER-1 = "
                                  f"{orders - 1}")
            mt = _migratetype(row.group(3), path, lineno)
            free.setdefault((nid, row.group(2)), {})[mt] = (lineno, counts + (0,) * (orders - len(counts)))
            continue
        row = BUDDY_LINE.match(line)
        if row and block_types:
            nid = _int(row.group(1), path, lineno, "node id")
            counts = _numbers(row.group(3), path, lineno, "pageblocks")
            if len(counts) != len(block_types):
                raise ConfigError(f"{path}:{lineno}: node {nid} zone {row.group(2)}: {len(counts)} counts for "
                                  f"{len(block_types)} migratetypes")
            blocks[(nid, row.group(2))] = (lineno, dict(zip(block_types, counts)))
    return free, blocks


def read_free_state(root, real):
    """The RealFreeState of root/proc/buddyinfo (and pagetypeinfo), checked against the RealMachine `real`;
    None when the folder has no buddyinfo."""
    bpath = os.path.join(root, BUDDYINFO)
    if not os.path.exists(bpath):
        return None
    return read_free_files(bpath, os.path.join(root, PAGETYPEINFO), real.zones,
                           f"{os.path.join(real.source, 'proc', 'zoneinfo')}")


def topology_zones(topology):
    """A Topology's zones as the RealZones of a machine that is its own scale (`--buddyinfo FILE` on any machine)."""
    return tuple(RealZone(n.nid, z.name, 0, spanned=z.pages, present=z.pages, managed=z.managed_pages)
                 for n in topology.nodes for z in n.zones)


def read_free_files(bpath, ppath, real_zones, where):
    """The RealFreeState of a buddyinfo file (and of a pagetypeinfo file, if `ppath` exists), checked against
    the zones of the machine it was copied from (`where` names them in errors)."""
    zones, orders = parse_buddyinfo(_read(bpath), bpath)
    populated = {(z.nid, z.name): z for z in real_zones if z.spanned}
    for key, zf in zones.items():
        z = populated.get(key)
        if z is None:
            raise ConfigError(f"{bpath}:{zf.line}: node {zf.nid} zone {zf.name}: not a populated zone of {where}")
        pages = sum(c << o for o, c in enumerate(zf.counts))
        if pages > z.managed:
            raise ConfigError(f"{bpath}:{zf.line}: node {zf.nid} zone {zf.name}: {pages} free pages, more than "
                              f"the zone's managed = {z.managed}")
    for (nid, name), z in populated.items():
        if (nid, name) not in zones and name in ZONE_NAMES:
            line = f" (line {z.line})" if z.line else ""
            raise ConfigError(f"{bpath}: node {nid} zone {name} of {where}{line} is missing")
    if ppath is not None and os.path.exists(ppath):
        free, blocks = parse_pagetypeinfo(_read(ppath), orders, ppath)
        for key, rows in free.items():
            if key not in zones:
                line = min(lineno for lineno, _ in rows.values())
                raise ConfigError(f"{ppath}:{line}: node {key[0]} zone {key[1]}: not a zone of {bpath}")
            zones[key].by_type = {mt: counts for mt, (_, counts) in rows.items()}
            _refuse(ppath, rows, key)
        for key, (lineno, counts) in blocks.items():
            if key not in zones:
                raise ConfigError(f"{ppath}:{lineno}: node {key[0]} zone {key[1]}: not a zone of {bpath}")
            for mt in NOT_TAKEN:
                if counts.get(mt, 0):
                    raise ConfigError(f"{ppath}:{lineno}: node {key[0]} zone {key[1]}: {MIGRATETYPE_NAMES[mt]} "
                                      f"pageblocks = {counts[mt]}: {_WHY[mt]}")
            zones[key].blocks = counts
    return RealFreeState(zones, orders, bpath)


_WHY = {MIGRATE_CMA: "CMA areas are not imported (give them as the topology's cma_pageblocks)",
        MIGRATE_ISOLATE: "an isolation was in progress when the file was copied; copy it again"}


def _refuse(path, rows, key):
    for mt in NOT_TAKEN:
        lineno, counts = rows.get(mt, (0, ()))
        if any(counts):
            raise ConfigError(f"{path}:{lineno}: node {key[0]} zone {key[1]} type {MIGRATETYPE_NAMES[mt]}: free "
                              f"blocks = {counts}: {_WHY[mt]}")


def _fold(counts, max_order):
    """Free pages per model order: real orders at or above the model's top order fold into it."""
    pages = [0] * max_order
    for o, c in enumerate(counts):
        pages[min(o, max_order - 1)] += c << o
    return pages


def _largest_remainder(total, weights):
    """`total` divided in proportion to `weights` (whole numbers, summing to total; ties to the lower index)."""
    whole = sum(weights)
    if not whole:
        return [0] * len(weights)
    shares = [total * w // whole for w in weights]
    rest = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in rest[:total - sum(shares)]:
        shares[i] += 1
    return shares


def _targets(zf, spec, real_zone, max_order):
    """Free blocks wanted per order and migratetype in the model zone (before the layout)."""
    f_num, f_den = spec.managed_pages, real_zone.managed
    want = []
    for k, pages in enumerate(_fold(zf.counts, max_order)):
        n = (2 * pages * f_num + f_den * (1 << k)) // (2 * f_den * (1 << k)) if f_den else 0  # nearest, half up
        weights = [_fold(zf.by_type.get(mt, ()), max_order)[k] for mt in range(len(MIGRATETYPE_NAMES))]
        if not any(weights):
            weights = [int(mt == MIGRATE_MOVABLE) for mt in range(len(MIGRATETYPE_NAMES))]
        want.append(_largest_remainder(n, weights))
    return want


def layout_zone(want, start, managed, max_order):
    """(free blocks, allocated blocks) of a zone whose managed pages are [start, start+managed).

    Holes are the places not yet given out, as aligned blocks; a hole marked `keep` must keep an allocated
    page (it is the buddy of a free block). A block of order k takes a hole of order k that is not kept, or
    the first k-page part of the smallest larger hole; the rest of that hole becomes holes, the one next to
    the block kept. See the module docstring.
    """
    holes = []  # [pfn, order, keep]
    pfn, end = start, start + managed
    while pfn < end:  # the aligned chunks boot frees (__free_pages_memory)
        order = max_order - 1 if not pfn else min(max_order - 1, (pfn & -pfn).bit_length() - 1)
        while pfn + (1 << order) > end:
            order -= 1
        holes.append([pfn, order, False])
        pfn += 1 << order
    free = []
    carried = [0] * len(want[0])  # blocks of the order above that did not fit, as twice as many of this order
    for k in range(max_order - 1, -1, -1):
        unplaced = [0] * len(carried)
        for mt, n in enumerate(want[k]):
            for _ in range(n + carried[mt]):
                exact = [h for h in holes if h[1] == k and not h[2]]
                larger = sorted((h for h in holes if h[1] > k), key=lambda h: (h[1], h[0]))
                if exact:
                    hole = min(exact)
                    holes.remove(hole)
                elif larger:
                    hole = larger[0]
                    holes.remove(hole)
                    for level in range(k, hole[1]):
                        holes.append([hole[0] + (1 << level), level, level == k])
                else:
                    unplaced[mt] += 1  # no room left for this block: its pages go to the order below
                    continue
                free.append((hole[0], k, mt))
        carried = [2 * n for n in unplaced]
    allocated = sorted((h[0], h[1]) for h in holes)
    return sorted(free), allocated


def _pageblock_types(spec, free, blocks, pageblock_order):
    """(pfn, migratetype) of every pageblock of the zone; see the module docstring."""
    size = 1 << pageblock_order
    starts = list(range(spec.start_pfn - spec.start_pfn % size, spec.end_pfn, size))
    if not blocks:
        return tuple((pfn, MIGRATE_MOVABLE) for pfn in starts)
    quota = _largest_remainder(len(starts), [blocks.get(mt, 0) for mt in range(len(MIGRATETYPE_NAMES))])
    types = {}
    for pfn in starts:  # the type of most free pages in the pageblock
        pages = [0] * len(MIGRATETYPE_NAMES)
        for head, order, mt in free:
            lo, hi = max(head, pfn), min(head + (1 << order), pfn + size)
            pages[mt] += max(0, hi - lo)
        best = max(range(len(pages)), key=lambda mt: (pages[mt], -mt))
        if pages[best] and quota[best]:
            types[pfn] = best
            quota[best] -= 1
    rest = [mt for mt, n in enumerate(quota) for _ in range(n)]
    for pfn in starts:
        if pfn not in types:
            types[pfn] = rest.pop(0)
    return tuple(sorted(types.items()))


def scale_free_state(state, real_zones, topology):
    """The FreeLayout of a RealFreeState on the Topology scaled from the machine of `real_zones` (RealZones)."""
    by_key = {(z.nid, z.name): z for z in real_zones if z.spanned}
    zones = []
    for node in topology.nodes:
        for spec in node.zones:
            key = (node.nid, spec.name)
            zf, rz = state.zones[key], by_key[key]
            want = _targets(zf, spec, rz, topology.max_order)
            free, allocated = layout_zone(want, spec.start_pfn, spec.managed_pages, topology.max_order)
            pageblocks = _pageblock_types(spec, free, zf.blocks, topology.pageblock_order)
            pb_type = dict(pageblocks)
            size = 1 << topology.pageblock_order
            counts = [[0] * len(MIGRATETYPE_NAMES) for _ in range(topology.max_order)]
            for _, order, mt in free:
                counts[order][mt] += 1
            zones.append(ScaledZone(
                node.nid, spec.zone_type, tuple(map(tuple, counts)), tuple(free),
                tuple((pfn, order, pb_type[pfn - pfn % size]) for pfn, order in allocated), pageblocks))
    return FreeLayout(tuple(zones))


def scaled_buddyinfo(layout):
    """The buddyinfo text of a FreeLayout's counts, as 4.19 prints it (checks/procfs.py prints the model's)."""
    lines = []
    for z in layout.zones:
        counts = "".join(f"{sum(per_type):6d} " for per_type in z.counts)
        lines.append(f"Node {z.nid}, zone {ZONE_NAMES[z.zone_type]:>8} {counts}\n")
    return "".join(lines)

