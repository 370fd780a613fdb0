"""A Topology from a real machine's files: /proc/zoneinfo and /sys/devices/system/node/, scaled down.

What is read, from a folder DIR holding copies laid out as on the machine:

- DIR/proc/zoneinfo (4.19's zoneinfo_show_print() in mm/vmstat.c): for every zone of every node, its
  `spanned`, `present` and `managed` pages, the `min`/`low`/`high` watermarks, `protection:` (the
  zone's lowmem_reserve, one entry per zone type of that kernel, in the order the zones are listed),
  the `high:` and `batch:` of the first CPU's pageset, and `start_pfn:`. Every other line (per-node and
  per-zone counters, numa counters, `count:` of a pageset) is skipped. A zone whose `spanned` is 0
  (unpopulated, printed without its pagesets) is left out of the machine, and a `Device` zone too.
- DIR/sys/devices/system/node/nodeN/cpulist (`0-3,8-11`) and nodeN/distance (one SLIT row) for every
  node zoneinfo lists.

/proc/buddyinfo and /proc/pagetypeinfo, when DIR holds them, give the machine's free state:
model/procfs_free_state.py reads and scales them; without them the machine starts booted, every
managed page free.

Scaling (`scale_machine`): every zone is shrunk by one factor (`scale` real pages to one page, or the
factor that brings the total to about `pages`) and rounded to whole MAX_ORDER blocks of the scaled
MAX_ORDER, at least one block, so every populated zone of every node stays and a zone's size stays in
proportion to the others' (but the smallest zones, rounded up to one block, grow). Zones are laid out
one after the other in the order of their real start_pfn, every one starting on a MAX_ORDER boundary;
the holes between them are dropped. Within a zone, `managed` keeps its share of the zone (rounded); the watermarks
scale with the zone's managed pages, a protection entry with the managed pages of the zones above that
it protects against, the pageset's high and batch with the zone's managed pages (batch at least 1).
Each is rounded up, so a limit that is not zero stays above zero. pageblock_order is MAX_ORDER - 2,
as on x86-64 (MAX_ORDER 11, pageblock_order 9), and at least 0. Grouping by mobility is on
(as on any real machine); min_free_kbytes is the sum of the scaled min watermarks, in kB.
"""

import math
import os
import re
from dataclasses import dataclass

from .constants import MAX_NR_ZONES, ZONE_NAMES
from .errors import ConfigError
from .input_file import read_input_text
from .topology import NodeSpec, Topology, ZoneSpec

ZONEINFO = os.path.join("proc", "zoneinfo")
NODE_DIR = os.path.join("sys", "devices", "system", "node")
IGNORED_ZONES = ("Device",)  # ZONE_DEVICE: never managed by the buddy allocator (model/constants.py)
DEFAULT_PAGES = 128
DEFAULT_MAX_ORDER = 4
PAGEBLOCK_GAP = 2  # MAX_ORDER minus pageblock_order on x86-64 (MAX_ORDER 11, pageblock_order 9)

ZONE_HEADER = re.compile(r"^Node\s+(\S+),\s+zone\s+(\S+)\s*$")
# `  pages free     N`, `        min      N`, ...: the zone's own fields, without a colon
ZONE_FIELD = re.compile(r"^\s+(?:pages\s+)?(free|min|low|high|spanned|present|managed)\s+(\S+)\s*$")
PROTECTION = re.compile(r"^\s+protection:\s*\((.*)\)\s*$")
# `    cpu: N`, `              high:  N`, `  start_pfn:           N`
COLON_FIELD = re.compile(r"^\s+(cpu|count|high|batch|start_pfn):\s+(\S+)\s*$")


@dataclass
class RealZone:
    """One zone as zoneinfo prints it; `line` is where its header is."""

    nid: int
    name: str
    line: int
    spanned: int = 0
    present: int = 0
    managed: int = 0
    free: int = 0
    watermarks: tuple = (0, 0, 0)
    protection: tuple = ()
    pcp_high: int | None = None  # of the first CPU's pageset listed
    pcp_batch: int | None = None
    pagesets: int = 0  # `cpu:` lines seen
    start_pfn: int | None = None


@dataclass(frozen=True)
class RealMachine:
    """What the files say: zones in the order zoneinfo lists them, CPUs and distances per node."""

    zones: tuple
    zone_names: tuple  # the kernel's zone types, in enum order (the order of `protection:`)
    cpus: dict  # nid -> tuple of cpu ids
    distances: tuple  # rows in node id order
    source: str

    @property
    def node_ids(self):
        return tuple(sorted({z.nid for z in self.zones}))


def _int(text, path, lineno, what):
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{path}:{lineno}: {what} = {text!r}: expected a whole number") from None


def _read(path):
    return read_input_text(path, ConfigError, hint=" (copy it from the machine; docs/tutorial.md)").splitlines()


def parse_zoneinfo(lines, path=ZONEINFO):
    """The zones of a zoneinfo text (a list of lines) and the kernel's zone names in enum order."""
    zones, names = [], []
    zone = None
    for lineno, line in enumerate(lines, 1):
        header = ZONE_HEADER.match(line)
        if header:
            nid = _int(header.group(1), path, lineno, "node id")
            zone = RealZone(nid, header.group(2), lineno)
            if zone.name not in IGNORED_ZONES and zone.name not in ZONE_NAMES:
                raise ConfigError(f"{path}:{lineno}: zone {zone.name!r}: not a zone type "
                                  f"(one of {', '.join(ZONE_NAMES + IGNORED_ZONES)})")
            if any(z.nid == nid and z.name == zone.name for z in zones):
                raise ConfigError(f"{path}:{lineno}: node {nid} zone {zone.name} is listed twice")
            if zone.name not in names:
                names.append(zone.name)
            zones.append(zone)
            continue
        if zone is None:
            continue
        field = ZONE_FIELD.match(line)
        if field:
            key, value = field.group(1), _int(field.group(2), path, lineno, field.group(1))
            if key in ("min", "low", "high"):
                wm = list(zone.watermarks)
                wm[("min", "low", "high").index(key)] = value
                zone.watermarks = tuple(wm)
            else:
                setattr(zone, key, value)
            continue
        prot = PROTECTION.match(line)
        if prot:
            zone.protection = tuple(_int(v.strip(), path, lineno, "protection") for v in prot.group(1).split(","))
            continue
        colon = COLON_FIELD.match(line)
        if colon:
            key, value = colon.group(1), _int(colon.group(2), path, lineno, colon.group(1))
            if key == "start_pfn":
                zone.start_pfn = value
            elif key == "cpu":
                zone.pagesets += 1
            elif key in ("high", "batch") and zone.pagesets == 1:  # the first CPU's pageset is the one kept
                setattr(zone, f"pcp_{key}", value)
    if not zones:
        raise ConfigError(f"{path}: no `Node N, zone NAME` line: not a /proc/zoneinfo")
    for z in zones:
        _check_zone(z, path, len(names))
    return tuple(zones), tuple(names)


def _check_zone(z, path, nr_zones):
    where = f"{path}:{z.line}: node {z.nid} zone {z.name}"
    if len(z.protection) != nr_zones:
        raise ConfigError(f"{where}: protection = {z.protection}: expected {nr_zones} entries (one per zone type)")
    if not z.spanned:
        return
    if z.start_pfn is None:
        raise ConfigError(f"{where}: no start_pfn line (spanned = {z.spanned})")
    if z.pcp_high is None or z.pcp_batch is None:
        raise ConfigError(f"{where}: no pageset with high and batch (spanned = {z.spanned})")
    if not 0 <= z.managed <= z.present <= z.spanned:
        raise ConfigError(f"{where}: spanned = {z.spanned}, present = {z.present}, managed = {z.managed}: "
                          "need managed <= present <= spanned")
    mn, lo, hi = z.watermarks
    if not 0 <= mn <= lo <= hi:
        raise ConfigError(f"{where}: min = {mn}, low = {lo}, high = {hi}: need min <= low <= high")


def parse_cpulist(text, path):
    """`0-3,8,10-11` -> (0, 1, 2, 3, 8, 10, 11); an empty list is a node without CPUs."""
    cpus = []
    text = text.strip()
    for part in filter(None, text.split(",")):
        lo, _, hi = part.partition("-")
        try:
            first, last = int(lo), int(hi or lo)
        except ValueError:
            raise ConfigError(f"{path}:1: cpulist = {text!r}: {part!r} is not N or N-M") from None
        if first > last:
            raise ConfigError(f"{path}:1: cpulist = {text!r}: range {part!r} runs backwards")
        cpus.extend(range(first, last + 1))
    return tuple(cpus)


def read_machine(root):
    """The RealMachine of the copies under `root` (root/proc/zoneinfo, root/sys/devices/system/node)."""
    if not os.path.isdir(root):
        raise ConfigError(f"{root}: no such folder (it should hold proc/zoneinfo and sys/devices/system/node)")
    zpath = os.path.join(root, ZONEINFO)
    zones, names = parse_zoneinfo(_read(zpath), zpath)
    nids = sorted({z.nid for z in zones})
    cpus, rows = {}, []
    for nid in nids:
        folder = os.path.join(root, NODE_DIR, f"node{nid}")
        cpath = os.path.join(folder, "cpulist")
        cpus[nid] = parse_cpulist(" ".join(_read(cpath)), cpath)
        dpath = os.path.join(folder, "distance")
        row = " ".join(_read(dpath)).split()
        if len(row) != len(nids):
            raise ConfigError(f"{dpath}:1: distance = {' '.join(row)!r}: expected {len(nids)} entries "
                              f"(one per node of {zpath}: {nids})")
        rows.append(tuple(_int(v, dpath, 1, "distance") for v in row))
    return RealMachine(zones, names, cpus, tuple(rows), root)


def _up(value, factor):
    """Scaled and rounded up: a limit that is not zero stays above zero."""
    return math.ceil(value * factor - 1e-9) if value else 0


def scale_machine(real, pages=None, scale=None, max_order=DEFAULT_MAX_ORDER, name=None):
    """The scaled Topology of a RealMachine; see the module docstring. `pages` and `scale` exclude each other."""
    if pages is not None and scale is not None:
        raise ConfigError(f"pages = {pages} and scale = {scale}: give one or the other")
    if not isinstance(max_order, int) or not 1 <= max_order <= 20:
        raise ConfigError(f"max_order = {max_order!r}: must be between 1 and 20")
    populated = [z for z in real.zones if z.spanned and z.name not in IGNORED_ZONES]
    if not populated:
        raise ConfigError(f"{real.source}: no populated zone")
    total = sum(z.spanned for z in populated)
    if scale is None:
        pages = DEFAULT_PAGES if pages is None else pages
        if not isinstance(pages, int) or pages < 1:
            raise ConfigError(f"pages = {pages!r}: must be a positive number of pages")
        scale = total / pages
    elif not isinstance(scale, int) or scale < 1:
        raise ConfigError(f"scale = {scale!r}: must be a positive whole number (real pages per page)")
    block = 1 << (max_order - 1)
    sizes = {id(z): max(block, round(z.spanned / scale / block) * block) for z in populated}
    managed = {id(z): min(sizes[id(z)], round(z.managed * sizes[id(z)] / z.spanned)) for z in populated}
    starts, pfn = {}, 0
    for z in sorted(populated, key=lambda z: z.start_pfn):
        starts[id(z)] = pfn
        pfn += sizes[id(z)]
    type_of = {n: ZONE_NAMES.index(n) for n in real.zone_names if n not in IGNORED_ZONES}
    nodes = []
    for nid in real.node_ids:
        mine = [z for z in populated if z.nid == nid]
        specs = []
        for z in mine:
            f = managed[id(z)] / z.managed if z.managed else 0.0
            specs.append(ZoneSpec(
                type_of[z.name], starts[id(z)], sizes[id(z)], managed=managed[id(z)],
                watermarks=tuple(_up(w, f) for w in z.watermarks),
                lowmem_reserve=_scaled_protection(z, mine, managed, real.zone_names),
                pcp_high_batch=(_up(z.pcp_high, f), max(1, _up(z.pcp_batch, f))),
            ))
        nodes.append(NodeSpec(nid, real.cpus.get(nid, ()), tuple(specs)))
    min_pages = sum(s.watermarks[0] for n in nodes for s in n.zones)
    label = name or f"proc:{os.path.basename(os.path.normpath(real.source))}"
    try:
        return Topology(
            nodes=tuple(nodes), distances=real.distances, max_order=max_order,
            pageblock_order=max(0, max_order - PAGEBLOCK_GAP),
            configured_zones=frozenset(type_of.values()), min_free_kbytes=min_pages * 4,
            page_group_by_mobility_disabled=False, name=f"{label} (1 page per {scale:.4g} real pages)",
        )
    except ConfigError as e:  # e.g. a SLIT entry below 10: say which copy it came from
        raise ConfigError(f"{real.source}: {e}") from None


def _scaled_protection(zone, node_zones, managed, names):
    """lowmem_reserve[j] of the model's zone types: the real entry for zone type j, scaled by the managed
    pages of the zones between this one and j (those it protects against), rounded up."""
    out = [0] * MAX_NR_ZONES
    for j, name in enumerate(names):
        if name in IGNORED_ZONES:
            continue
        above = [z for z in node_zones if names.index(zone.name) < names.index(z.name) <= j]
        real = sum(z.managed for z in above)
        out[ZONE_NAMES.index(name)] = _up(zone.protection[j], sum(managed[id(z)] for z in above) / real) if real \
            else 0
    return tuple(out)


def import_machine(root, pages=None, scale=None, max_order=DEFAULT_MAX_ORDER, name=None):
    """The scaled Topology of the machine whose files were copied under `root`."""
    return scale_machine(read_machine(root), pages=pages, scale=scale, max_order=max_order, name=name)
