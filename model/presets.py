"""Built-in machines with names.

- `buddy-core`: the buddy system alone: one node, one zone of N pages from pfn
  0, MAX_ORDER M, one migratetype (grouping by mobility off), per-cpu lists
  that hold nothing (high 0, batch 1: every order-0 free spills at once, as the
  kernel's boot pageset does), zero watermarks and reserves.
- `numa2`: two nodes, each with a 16-page DMA32 and a 32-page Normal zone and
  one CPU; MAX_ORDER 4, pageblock_order 2; small explicit watermarks,
  lowmem_reserve_ratio 8 for DMA32 (so Normal-capable requests leave 4 DMA32
  pages alone), per-cpu lists of high 4, batch 2.
- `x86-64-1g`: one node with a 4096-page DMA zone and the rest of 1 GiB as
  DMA32, all limits computed as 4.19 computes them at boot (for API use and
  worked examples, too large to explore).
"""

from .constants import ZONE_DMA, ZONE_DMA32, ZONE_NORMAL
from .errors import ConfigError
from .topology import NodeSpec, Topology, ZoneSpec


def buddy_core(pages=16, max_order=4):
    """The buddy system alone; see the module docstring."""
    if not isinstance(pages, int) or pages < 1:
        raise ConfigError(f"buddy-core: --pages {pages!r}: must be a positive number of pages")
    if not isinstance(max_order, int) or not 1 <= max_order <= 20:
        raise ConfigError(f"buddy-core: --max-order {max_order!r}: must be between 1 and 20")
    zone = ZoneSpec(ZONE_NORMAL, 0, pages, watermarks=(0, 0, 0), lowmem_reserve=(0,) * 5, pcp_high_batch=(0, 1))
    return Topology(
        nodes=(NodeSpec(0, (0,), (zone,)),),
        max_order=max_order,
        pageblock_order=max_order - 1,
        page_group_by_mobility_disabled=True,
        numa=False,
        min_free_kbytes=0,
        name=f"buddy-core(pages={pages}, max_order={max_order})",
    )


def numa2():
    """Two nodes with DMA32 and Normal each, one CPU per node; see the module docstring."""
    nodes = []
    for nid in (0, 1):
        base = nid * 48
        nodes.append(NodeSpec(nid, (nid,), (
            ZoneSpec(ZONE_DMA32, base, 16, watermarks=(1, 2, 3), pcp_high_batch=(4, 2)),
            ZoneSpec(ZONE_NORMAL, base + 16, 32, watermarks=(2, 3, 4), pcp_high_batch=(4, 2)),
        )))
    return Topology(
        nodes=tuple(nodes),
        max_order=4,
        pageblock_order=2,
        lowmem_reserve_ratio=(256, 8, 32, 0, 0),
        page_group_by_mobility_disabled=False,
        min_free_kbytes=16,
        name="numa2",
    )


def x86_64_1g():
    """One node, 1 GiB: DMA 16 MiB and DMA32 the rest, every limit computed at boot."""
    return Topology(
        nodes=(NodeSpec(0, (0, 1), (ZoneSpec(ZONE_DMA, 0, 4096), ZoneSpec(ZONE_DMA32, 4096, 262144 - 4096))),),
        name="x86-64-1g",
    )


PRESETS = {
    "buddy-core": buddy_core,
    "numa2": numa2,
    "x86-64-1g": x86_64_1g,
}


def preset(name, **params):
    """The named built-in topology; parameters only where the preset takes them (buddy-core)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; the presets are: {', '.join(sorted(PRESETS))}")
    if params and name != "buddy-core":
        raise ConfigError(f"preset {name!r} takes no parameters (given: {', '.join(sorted(params))})")
    return PRESETS[name](**params)
