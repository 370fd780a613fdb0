"""config_consistency: the limits follow 4.19's formulas from the managed pages and the sysctls the state holds.

The sysctls are the state's (a write of one recomputes the limits; model/sysctl.py), and they are
themselves within what 4.19's handlers accept: min_free_kbytes >= 0, watermark_scale_factor 1..1000,
percpu_pagelist_fraction 0 or at least 8, and no negative lowmem_reserve_ratio below the highest
zone type (setup_per_zone_lowmem_reserve writes a ratio below 1 back as 0).

Restated from 4.19's mm/page_alloc.c, independently of the model's functions (model/watermark.py):

- init_per_zone_wmark_min(): min_free_kbytes = clamp(int_sqrt(lowmem_kbytes * 16), 128, 65536), where
  lowmem_kbytes = nr_free_buffer_pages() * 4: the managed pages of the zones up to ZONE_NORMAL in the
  boot node's fallback zonelist (their high watermarks are still 0 then).
- __setup_per_zone_wmarks(): pages_min = min_free_kbytes >> 2; lowmem_pages = the managed pages of
  every zone that is not highmem; tmp = pages_min * managed / lowmem_pages; min = tmp (highmem:
  clamp(managed / 1024, 32, 128)); gap = max(tmp >> 2, mult_frac(managed, watermark_scale_factor,
  10000)); low = min + gap; high = min + 2 * gap.
- setup_per_zone_lowmem_reserve(): for a lower zone i of a node and a higher zone j > i,
  lowmem_reserve[j] = (managed pages of the node's zones i+1..j) / sysctl_lowmem_reserve_ratio[i]
  (0 when the ratio is below 1); lowmem_reserve[j] = 0 for j <= i.
- calculate_totalreserve_pages(): per node, the sum over its zones of min(managed, max(lowmem_reserve
  [i..]) + high); totalreserve_pages is the sum over the nodes.
- pageset_set_high_and_batch(): with percpu_pagelist_fraction f, high = managed / f and batch =
  max(1, high / 4) capped at PAGE_SHIFT * 8; without, batch = zone_batchsize() (managed / 1024, at most
  1 MiB of pages, / 4, at least 1, then rounddown_pow_of_two(b + b/2) - 1), high = 6 * batch and the
  pcp batch max(1, batch). Every CPU of a zone gets the same values.

A value the topology gives explicitly (min_free_kbytes, a zone's watermarks, lowmem_reserve or pcp)
is checked to stay as given instead; values computed from it (low/high from a given min_free_kbytes,
totalreserve from given watermarks) still follow the formulas.

The Z3 encoding: the limits (watermarks, lowmem_reserve, per-cpu high and batch, min_free_kbytes,
totalreserve_pages) are variables of the symbolic state; managed pages and sysctls are constants of
its shape, so every formula is linear (products and quotients by constants) except the int_sqrt of
constants, which is folded to its value. Unpopulated zones are left out: they have no managed pages,
so they reserve nothing, and 4.19 never reads their limits.
"""

from math import isqrt

import z3

from buddycheck.model.constants import MAX_NR_ZONES, PAGE_SHIFT, PAGE_SIZE, ZONE_HIGHMEM, ZONE_MOVABLE, ZONE_NORMAL

from .symbolic import bv

WMARK_NAMES = ("min", "low", "high")
SWAP_CLUSTER_MAX = 32


def is_highmem(zone_idx, configured_zones):
    """is_highmem_idx(): HIGHMEM, or MOVABLE carved out of HIGHMEM (when HIGHMEM is configured)."""
    return zone_idx == ZONE_HIGHMEM or (zone_idx == ZONE_MOVABLE and ZONE_HIGHMEM in configured_zones)


def computed_min_free_kbytes(zones, config):
    """init_per_zone_wmark_min()'s value; zones are (nid, zone_idx, managed)."""
    managed = {(nid, idx): pages for nid, idx, pages in zones}
    lowmem_kbytes = sum(managed.get(key, 0) for key in config.boot_zonelist if key[1] <= ZONE_NORMAL)
    lowmem_kbytes *= PAGE_SIZE >> 10
    return min(max(isqrt(lowmem_kbytes * 16), 128), 65536)


def lowmem_pages(zones, config):
    return sum(pages for _, idx, pages in zones if not is_highmem(idx, config.configured_zones))


def mult_frac(x, numer, denom):
    """mult_frac(): x * numer / denom without overflowing the product."""
    return (x // denom) * numer + ((x % denom) * numer) // denom


def highmem_min(managed):
    return min(max(managed // 1024, SWAP_CLUSTER_MAX), 128)


def watermarks(managed, idx, min_free_kbytes, zones, config):
    """(min, low, high) of one zone by __setup_per_zone_wmarks()."""
    pages_min = min_free_kbytes >> (PAGE_SHIFT - 10)
    low_pages = lowmem_pages(zones, config)
    tmp = pages_min * managed // low_pages if low_pages else 0
    wmin = highmem_min(managed) if is_highmem(idx, config.configured_zones) else tmp
    gap = max(tmp >> 2, mult_frac(managed, config.watermark_scale_factor, 10000))
    return (wmin, wmin + gap, wmin + 2 * gap)


def lowmem_reserve(nid, idx, zones, config):
    """A zone's lowmem_reserve[0..MAX_NR_ZONES-1] by setup_per_zone_lowmem_reserve()."""
    managed = {i: pages for n, i, pages in zones if n == nid}
    ratio = config.lowmem_reserve_ratio[idx]
    out = []
    for j in range(MAX_NR_ZONES):
        if j <= idx or ratio < 1:
            out.append(0)
        else:
            out.append(sum(managed.get(i, 0) for i in range(idx + 1, j + 1)) // ratio)
    return tuple(out)


def rounddown_pow_of_two(n):
    return 1 << (n.bit_length() - 1)


def pcp_high_batch(managed, config):
    """(high, batch) of every CPU's per_cpu_pages by pageset_set_high_and_batch()."""
    fraction = config.percpu_pagelist_fraction
    if fraction:
        high = managed // fraction
        batch = max(1, high // 4)
        if high // 4 > PAGE_SHIFT * 8:
            batch = PAGE_SHIFT * 8
        return high, batch
    batch = managed // 1024
    if batch * PAGE_SIZE > 1024 * 1024:
        batch = (1024 * 1024) // PAGE_SIZE
    batch = max(batch // 4, 1)
    batch = rounddown_pow_of_two(batch + batch // 2) - 1
    return 6 * batch, max(1, batch)


def node_reserve(zone_values):
    """pgdat->totalreserve_pages from (managed, lowmem_reserve from the zone's own index on, high)."""
    return sum(min(max(reserve, default=0) + high, managed) for managed, reserve, high in zone_values)


# ---- the concrete check --------------------------------------------------------------------------------------
MIN_PERCPU_PAGELIST_FRACTION = 8


def sysctl_violations(config):
    """A message for each sysctl of the configuration that 4.19's handlers would never leave in place."""
    out = []
    if config.user_min_free_kbytes is not None and config.user_min_free_kbytes < 0:
        out.append(f"min_free_kbytes = {config.user_min_free_kbytes}, but its handler refuses a negative value")
    if not 1 <= config.watermark_scale_factor <= 1000:
        out.append(f"watermark_scale_factor = {config.watermark_scale_factor}, but its handler takes only 1..1000")
    fraction = config.percpu_pagelist_fraction
    if fraction < 0 or 0 < fraction < MIN_PERCPU_PAGELIST_FRACTION:
        out.append(f"percpu_pagelist_fraction = {fraction}, but its handler takes only 0 or at least "
                   f"{MIN_PERCPU_PAGELIST_FRACTION}")
    for i, ratio in enumerate(config.lowmem_reserve_ratio[:MAX_NR_ZONES - 1]):
        if ratio < 0:
            out.append(f"lowmem_reserve_ratio[{i}] = {ratio}, but setup_per_zone_lowmem_reserve writes a ratio "
                       "below 1 back as 0")
    return out


def zone_list(zones):
    return tuple((z.nid, z.zone_idx, z.managed) for z in zones)


def violations(view):
    """(message, values) for every limit of the view that does not follow its formula; [] without a config."""
    config = view.config
    if config is None:
        return []
    out = [(message, {"sysctls": True}) for message in sysctl_violations(config)]
    zones = zone_list(view.zones)
    want_mfk = config.user_min_free_kbytes
    if want_mfk is None:
        want_mfk = computed_min_free_kbytes(zones, config)
    if view.min_free_kbytes != want_mfk:
        how = "as the topology gives it" if config.user_min_free_kbytes is not None else "init_per_zone_wmark_min"
        out.append((f"min_free_kbytes = {view.min_free_kbytes}, but {how} makes it {want_mfk}",
                    {"min_free_kbytes": view.min_free_kbytes}))
    for z in view.zones:
        wm = z.given_watermark or watermarks(z.managed, z.zone_idx, view.min_free_kbytes, zones, config)
        if tuple(z.watermark) != tuple(wm):
            out.append((f"{z.label}: watermarks (min, low, high) = {tuple(z.watermark)}, but "
                        f"{'the topology gives' if z.given_watermark else '__setup_per_zone_wmarks makes'} "
                        f"{tuple(wm)} (managed {z.managed}, min_free_kbytes {view.min_free_kbytes})",
                        {"zone": z.label, "watermark": tuple(z.watermark)}))
        reserve = z.given_lowmem_reserve or lowmem_reserve(z.nid, z.zone_idx, zones, config)
        if tuple(z.lowmem_reserve) != tuple(reserve):
            out.append((f"{z.label}: lowmem_reserve = {tuple(z.lowmem_reserve)}, but "
                        f"{'the topology gives' if z.given_lowmem_reserve else 'setup_per_zone_lowmem_reserve makes'}"
                        f" {tuple(reserve)}", {"zone": z.label, "lowmem_reserve": tuple(z.lowmem_reserve)}))
        pcp = z.given_pcp or pcp_high_batch(z.managed, config)
        limits = {cpu: (high, batch) for cpu, high, batch in z.pcp_limits}
        for cpu, _ in z.pcp_counts:  # the CPUs with a pageset in this zone
            high, batch = limits.get(cpu, (0, 0))
            if (high, batch) != tuple(pcp):
                out.append((f"{z.label}: cpu {cpu} per-cpu high, batch = {high}, {batch}, but "
                            f"{'the topology gives' if z.given_pcp else 'pageset_set_high_and_batch makes'} "
                            f"{tuple(pcp)}", {"zone": z.label, "cpu": cpu}))
    nodes = dict(view.node_totalreserve)
    total = 0
    for nid in config.nids:
        want = node_reserve((z.managed, z.lowmem_reserve[z.zone_idx:], z.watermark[2])
                            for z in view.zones if z.nid == nid)
        total += want
        if nodes.get(nid, 0) != want:
            out.append((f"node {nid}: totalreserve_pages = {nodes.get(nid, 0)}, but calculate_totalreserve_pages "
                        f"makes {want} from its zones' lowmem_reserve and high watermarks", {"nid": nid}))
    if view.totalreserve_pages != total:
        out.append((f"totalreserve_pages = {view.totalreserve_pages}, but the nodes' reserves sum to {total}",
                    {"totalreserve_pages": view.totalreserve_pages}))
    return out


# ---- the Z3 encoding ---------------------------------------------------------------------------------------
def _umax(a, b):
    return z3.If(z3.UGT(a, b), a, b)


def _umin(a, b):
    return z3.If(z3.ULT(a, b), a, b)


def encode(sym):
    """The formulas over the SymView's limit variables; managed pages and sysctls are the shape's constants."""
    sh = sym.shape
    config = sh.config
    if config is None:
        return z3.BoolVal(True)
    zones = tuple((zs.nid, zs.zone_idx, zs.managed) for zs in sh.zones)
    terms = [z3.BoolVal(not sysctl_violations(config))]  # constants of the shape: true or false as a whole
    if config.user_min_free_kbytes is not None:
        terms.append(sym.min_free_kbytes == bv(config.user_min_free_kbytes))
    else:
        terms.append(sym.min_free_kbytes == bv(computed_min_free_kbytes(zones, config)))
    pages_min = z3.LShR(sym.min_free_kbytes, PAGE_SHIFT - 10)
    low_pages = lowmem_pages(zones, config)
    for zs, sz in zip(sh.zones, sym.zones):
        if zs.given_watermark is not None:
            want = tuple(bv(w) for w in zs.given_watermark)
        else:
            tmp = z3.UDiv(pages_min * bv(zs.managed), bv(low_pages)) if low_pages else bv(0)
            wmin = bv(highmem_min(zs.managed)) if is_highmem(zs.zone_idx, config.configured_zones) else tmp
            gap = _umax(z3.LShR(tmp, 2), bv(mult_frac(zs.managed, config.watermark_scale_factor, 10000)))
            want = (wmin, wmin + gap, wmin + 2 * gap)
        terms += [var == w for var, w in zip(sz.watermark, want)]
        reserve = zs.given_lowmem_reserve or lowmem_reserve(zs.nid, zs.zone_idx, zones, config)
        terms += [var == bv(r) for var, r in zip(sz.lowmem_reserve, reserve)]
        high, batch = zs.given_pcp or pcp_high_batch(zs.managed, config)
        terms += [sz.pcp_high[cpu] == bv(high) for cpu in zs.cpus]
        terms += [sz.pcp_batch[cpu] == bv(batch) for cpu in zs.cpus]
    total = bv(0)
    for nid in config.nids:
        node = bv(0)
        for zs, sz in zip(sh.zones, sym.zones):
            if zs.nid != nid:
                continue
            biggest = bv(0)
            for var in sz.lowmem_reserve[zs.zone_idx:]:
                biggest = _umax(biggest, var)
            node = node + _umin(biggest + sz.watermark[2], bv(zs.managed))
        terms.append(sym.node_totalreserve[nid] == node)
        total = total + node
    terms.append(sym.totalreserve_pages == total)
    return z3.And(terms)
