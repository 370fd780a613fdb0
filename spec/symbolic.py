"""A symbolic allocator state of fixed shape, in Z3, and the bridge from concrete views.

A `Shape` fixes what does not change while a machine runs: the zones'
geometry (node, zone index, start, end, managed pages, the CPUs of its
per-cpu lists), MAX_ORDER, pageblock_order, the number of pageblocks, and a
number of block slots. A `SymView` of that shape has one Z3 variable per
dynamic field: each slot is a block (present, kind free/pcp/alloc, pfn,
order, holding zone, migratetype, cpu, cached migratetype), each zone has its
counters (nr_free per order, NR_FREE_PAGES, NR_FREE_CMA_PAGES,
nr_reserved_highatomic, nr_isolate_pageblock, per-cpu counts) and its limits
(watermarks, lowmem_reserve, per-cpu high and batch), each pageblock its
migratetype, and the machine its min_free_kbytes and totalreserve_pages (per
node and in all). The boot configuration (sysctls, the values a topology gives
explicitly) is part of the shape. Every variable is a 64-bit vector, so pfn
arithmetic (shifts, xor, masks) is the kernel's.

`bindings(sym, view)` pairs each variable with the view's value, and
`evaluate(formula, pairs)` substitutes them and simplifies to True or False:
that is how an invariant's encoding is run on a concrete state.

Simplifications: the zone geometry is concrete (part of the shape), not
symbolic; an allocated block's zone is derived from its head pfn (page_zone),
free and per-cpu blocks carry the zone whose list holds them.
"""

from dataclasses import dataclass
from functools import lru_cache

import z3

from buddycheck.model.constants import MAX_NR_ZONES

from .view import ALLOC, FREE, PCP

W = 64
KIND_CODE = {FREE: 0, PCP: 1, ALLOC: 2}
SLOT_QUANTUM = 16


def bv(value):
    return z3.BitVecVal(value % (1 << W), W)


ONE = bv(1)
ZERO = bv(0)


@dataclass(frozen=True)
class ZoneShape:
    nid: int
    zone_idx: int
    start_pfn: int
    end_pfn: int
    managed: int
    cpus: tuple
    given_watermark: tuple | None = None
    given_lowmem_reserve: tuple | None = None
    given_pcp: tuple | None = None

    @property
    def managed_end(self):
        return self.start_pfn + self.managed


@dataclass(frozen=True)
class Shape:
    """The static part of a state, plus the number of block slots."""

    zones: tuple
    max_order: int
    pageblock_order: int
    npageblocks: int
    nslots: int
    config: object = None  # the view's MachineConfig (spec/view.py), or None

    @property
    def nozone(self):
        """The zone code of an allocated block whose head lies in no zone."""
        return len(self.zones)

    def pageblock_zone(self, i):
        """The zone that counts pageblock i in nr_isolate_pageblock (see pageblock_zones)."""
        return pageblock_zones(self.zones, self.pageblock_order, self.npageblocks)[i]


@lru_cache(maxsize=64)
def pageblock_zones(zones, pageblock_order, npageblocks):
    """For each pageblock, the index of the zone of its first pfn that lies in a zone (None if none does).

    That is the zone set_migratetype_isolate() charges: start_isolate_page_range() hands it
    __first_valid_page() of the block. zones is a tuple of objects with start_pfn and end_pfn.
    """
    out = []
    for i in range(npageblocks):
        lo, hi = i << pageblock_order, (i + 1) << pageblock_order
        best = None
        for zi, z in enumerate(zones):
            first = max(lo, z.start_pfn)
            if first < min(hi, z.end_pfn) and (best is None or first < best[0]):
                best = (first, zi)
        out.append(None if best is None else best[1])
    return tuple(out)


def shape_of(view, nslots=None):
    """The Shape of a view; slots rounded up to a multiple of SLOT_QUANTUM so shapes (and encodings) are shared."""
    n = len(view.blocks())
    if nslots is None:
        nslots = max(SLOT_QUANTUM, -(-n // SLOT_QUANTUM) * SLOT_QUANTUM)
    if nslots < n:
        raise ValueError(f"shape: {n} blocks do not fit in {nslots} slots")
    zones = tuple(ZoneShape(z.nid, z.zone_idx, z.start_pfn, z.end_pfn, z.managed, tuple(c for c, _ in z.pcp_counts),
                            z.given_watermark, z.given_lowmem_reserve, z.given_pcp)
                  for z in view.zones)
    return Shape(zones, view.max_order, view.pageblock_order, len(view.pageblocks), nslots, view.config)


class Slot:
    """One block slot: Z3 variables for a block that may or may not be present (derived terms built once)."""

    def __init__(self, i):
        self.present = z3.Bool(f"s{i}_present")
        self.kind = z3.BitVec(f"s{i}_kind", W)
        self.pfn = z3.BitVec(f"s{i}_pfn", W)
        self.order = z3.BitVec(f"s{i}_order", W)
        self.zone = z3.BitVec(f"s{i}_zone", W)
        self.mt = z3.BitVec(f"s{i}_mt", W)
        self.cpu = z3.BitVec(f"s{i}_cpu", W)
        self.cached = z3.BitVec(f"s{i}_cached", W)
        self.pages = ONE << self.order
        self.end = self.pfn + self.pages
        self._is = {kind: z3.And(self.present, self.kind == code) for kind, code in KIND_CODE.items()}

    def is_(self, kind):
        return self._is[kind]


class SymZone:
    """One zone's symbolic counters."""

    def __init__(self, i, zs, max_order):
        self.shape = zs
        self.nr_free = [z3.BitVec(f"z{i}_nr_free{o}", W) for o in range(max_order)]
        self.nr_free_pages = z3.BitVec(f"z{i}_nr_free_pages", W)
        self.nr_free_cma_pages = z3.BitVec(f"z{i}_nr_free_cma_pages", W)
        self.nr_reserved_highatomic = z3.BitVec(f"z{i}_nr_reserved_highatomic", W)
        self.nr_isolate_pageblock = z3.BitVec(f"z{i}_nr_isolate_pageblock", W)
        self.pcp_count = {cpu: z3.BitVec(f"z{i}_pcp_count_cpu{cpu}", W) for cpu in zs.cpus}
        self.watermark = [z3.BitVec(f"z{i}_wmark_{w}", W) for w in ("min", "low", "high")]
        self.lowmem_reserve = [z3.BitVec(f"z{i}_lowmem_reserve{j}", W) for j in range(MAX_NR_ZONES)]
        self.pcp_high = {cpu: z3.BitVec(f"z{i}_pcp_high_cpu{cpu}", W) for cpu in zs.cpus}
        self.pcp_batch = {cpu: z3.BitVec(f"z{i}_pcp_batch_cpu{cpu}", W) for cpu in zs.cpus}


class SymView:
    """A symbolic state of a given Shape; see the module docstring."""

    def __init__(self, shape):
        self.shape = shape
        self.slots = [Slot(i) for i in range(shape.nslots)]
        self.zones = [SymZone(i, zs, shape.max_order) for i, zs in enumerate(shape.zones)]
        self.pageblocks = [z3.BitVec(f"pb{i}_mt", W) for i in range(shape.npageblocks)]
        self.min_free_kbytes = z3.BitVec("min_free_kbytes", W)
        self.totalreserve_pages = z3.BitVec("totalreserve_pages", W)
        nids = shape.config.nids if shape.config is not None else ()
        self.node_totalreserve = {nid: z3.BitVec(f"node{nid}_totalreserve_pages", W) for nid in nids}
        self._pbmt = {}
        self._holder = {}

    def holder(self, slot):
        """The zone code of a slot: the list's zone for free and pcp blocks, page_zone(head) when allocated."""
        key = id(slot)
        if key not in self._holder:
            derived = bv(self.shape.nozone)
            for i in range(len(self.shape.zones) - 1, -1, -1):
                zs = self.shape.zones[i]
                derived = z3.If(z3.And(z3.UGE(slot.pfn, bv(zs.start_pfn)), z3.ULT(slot.pfn, bv(zs.end_pfn))),
                                bv(i), derived)
            self._holder[key] = z3.If(slot.kind == KIND_CODE[ALLOC], derived, slot.zone)
        return self._holder[key]

    def pageblock_mt(self, pfn):
        """get_pageblock_migratetype(pfn) over the symbolic pageblock table; -1 past its end."""
        key = pfn.get_id()
        if key not in self._pbmt:
            idx = z3.LShR(pfn, self.shape.pageblock_order)
            term = bv(-1)
            for i in range(self.shape.npageblocks - 1, -1, -1):
                term = z3.If(idx == i, self.pageblocks[i], term)
            self._pbmt[key] = term
        return self._pbmt[key]


@lru_cache(maxsize=32)
def sym_view(shape):
    """The SymView of a shape, built once per shape."""
    return SymView(shape)


def bindings(sym, view):
    """(variable, value) pairs that fix every variable of sym to the view's values."""
    shape = sym.shape
    blocks = view.blocks()
    if len(blocks) > shape.nslots:
        raise ValueError(f"bindings: {len(blocks)} blocks do not fit in {shape.nslots} slots")
    pairs = []
    for i, slot in enumerate(sym.slots):
        if i < len(blocks):
            b = blocks[i]
            zone = shape.nozone if b.zone is None else b.zone
            vals = (True, KIND_CODE[b.kind], b.pfn, b.order, zone, b.mt, b.cpu, b.cached)
        else:
            vals = (False, 0, 0, 0, 0, 0, 0, 0)
        pairs.append((slot.present, z3.BoolVal(vals[0])))
        for var, val in zip((slot.kind, slot.pfn, slot.order, slot.zone, slot.mt, slot.cpu, slot.cached), vals[1:]):
            pairs.append((var, bv(val)))
    for sz, zv in zip(sym.zones, view.zones):
        for o, var in enumerate(sz.nr_free):
            pairs.append((var, bv(zv.nr_free[o] if o < len(zv.nr_free) else 0)))
        pairs.append((sz.nr_free_pages, bv(zv.nr_free_pages)))
        pairs.append((sz.nr_free_cma_pages, bv(zv.nr_free_cma_pages)))
        pairs.append((sz.nr_reserved_highatomic, bv(zv.nr_reserved_highatomic)))
        pairs.append((sz.nr_isolate_pageblock, bv(zv.nr_isolate_pageblock)))
        counts = dict(zv.pcp_counts)
        for cpu, var in sz.pcp_count.items():
            pairs.append((var, bv(counts.get(cpu, 0))))
        pairs += [(var, bv(w)) for var, w in zip(sz.watermark, zv.watermark)]
        pairs += [(var, bv(r)) for var, r in zip(sz.lowmem_reserve, zv.lowmem_reserve)]
        limits = {cpu: (high, batch) for cpu, high, batch in zv.pcp_limits}
        for cpu in sz.pcp_high:
            high, batch = limits.get(cpu, (0, 0))
            pairs += [(sz.pcp_high[cpu], bv(high)), (sz.pcp_batch[cpu], bv(batch))]
    for var, mt in zip(sym.pageblocks, view.pageblocks):
        pairs.append((var, bv(mt)))
    pairs += [(sym.min_free_kbytes, bv(view.min_free_kbytes)), (sym.totalreserve_pages, bv(view.totalreserve_pages))]
    reserves = dict(view.node_totalreserve)
    pairs += [(var, bv(reserves.get(nid, 0))) for nid, var in sym.node_totalreserve.items()]
    return pairs


def evaluate(formula, pairs):
    """The truth value of formula with every variable fixed by pairs (z3.substitute, then z3.simplify)."""
    result = z3.simplify(z3.substitute(formula, *pairs))
    if z3.is_true(result):
        return True
    if z3.is_false(result):
        return False
    raise ValueError(f"evaluate: the formula did not reduce to a constant: {str(result)[:200]}")


@dataclass(frozen=True)
class ZoneSpan:
    start_pfn: int
    end_pfn: int
