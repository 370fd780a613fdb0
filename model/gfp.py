"""GFP flags and the helpers that read them (include/linux/gfp.h, 4.19).

Every bit and composite of 4.19's gfp.h is here with its kernel value.
`gfp_zone` reproduces GFP_ZONE_TABLE/GFP_ZONE_BAD, including the invalid
combinations, which raise `InvalidGfpZone` where the kernel hits BUG() under
CONFIG_DEBUG_VM.

Abstracted away: CONFIG_LOCKDEP (so __GFP_NOLOCKDEP is 0 and
__GFP_BITS_SHIFT is 23); the suspend-time narrowing of gfp_allowed_mask is
expressed by the machine's `gfp_allowed_mask` field rather than by
pm_restrict_gfp_mask().
"""

from .constants import (
    MIGRATE_UNMOVABLE,
    ZONE_DMA,
    ZONE_DMA32,
    ZONE_HIGHMEM,
    ZONE_MOVABLE,
    ZONE_NORMAL,
    ZONELIST_FALLBACK,
    ZONELIST_NOFALLBACK,
)
from .errors import InvalidGfpMigratetype, InvalidGfpZone

__GFP_DMA = 0x01
__GFP_HIGHMEM = 0x02
__GFP_DMA32 = 0x04
__GFP_MOVABLE = 0x08
__GFP_RECLAIMABLE = 0x10
__GFP_HIGH = 0x20
__GFP_IO = 0x40
__GFP_FS = 0x80
__GFP_WRITE = 0x100
__GFP_NOWARN = 0x200
__GFP_RETRY_MAYFAIL = 0x400
__GFP_NOFAIL = 0x800
__GFP_NORETRY = 0x1000
__GFP_MEMALLOC = 0x2000
__GFP_COMP = 0x4000
__GFP_ZERO = 0x8000
__GFP_NOMEMALLOC = 0x10000
__GFP_HARDWALL = 0x20000
__GFP_THISNODE = 0x40000
__GFP_ATOMIC = 0x80000
__GFP_ACCOUNT = 0x100000
__GFP_DIRECT_RECLAIM = 0x200000
__GFP_KSWAPD_RECLAIM = 0x400000
__GFP_NOLOCKDEP = 0  # only with CONFIG_LOCKDEP
__GFP_RECLAIM = __GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM

__GFP_BITS_SHIFT = 23
__GFP_BITS_MASK = (1 << __GFP_BITS_SHIFT) - 1
GFP_ZONEMASK = __GFP_DMA | __GFP_HIGHMEM | __GFP_DMA32 | __GFP_MOVABLE
GFP_MOVABLE_MASK = __GFP_RECLAIMABLE | __GFP_MOVABLE
GFP_MOVABLE_SHIFT = 3

GFP_ATOMIC = __GFP_HIGH | __GFP_ATOMIC | __GFP_KSWAPD_RECLAIM
GFP_KERNEL = __GFP_RECLAIM | __GFP_IO | __GFP_FS
GFP_KERNEL_ACCOUNT = GFP_KERNEL | __GFP_ACCOUNT
GFP_NOWAIT = __GFP_KSWAPD_RECLAIM
GFP_NOIO = __GFP_RECLAIM
GFP_NOFS = __GFP_RECLAIM | __GFP_IO
GFP_USER = __GFP_RECLAIM | __GFP_IO | __GFP_FS | __GFP_HARDWALL
GFP_DMA = __GFP_DMA
GFP_DMA32 = __GFP_DMA32
GFP_HIGHUSER = GFP_USER | __GFP_HIGHMEM
GFP_HIGHUSER_MOVABLE = GFP_HIGHUSER | __GFP_MOVABLE
GFP_TRANSHUGE_LIGHT = (GFP_HIGHUSER_MOVABLE | __GFP_COMP | __GFP_NOMEMALLOC | __GFP_NOWARN) & ~__GFP_RECLAIM
GFP_TRANSHUGE = GFP_TRANSHUGE_LIGHT | __GFP_DIRECT_RECLAIM

# mm/internal.h
GFP_RECLAIM_MASK = (
    __GFP_RECLAIM | __GFP_HIGH | __GFP_IO | __GFP_FS | __GFP_NOWARN | __GFP_RETRY_MAYFAIL
    | __GFP_NOFAIL | __GFP_NORETRY | __GFP_MEMALLOC | __GFP_NOMEMALLOC | __GFP_ATOMIC
)
GFP_BOOT_MASK = __GFP_BITS_MASK & ~(__GFP_RECLAIM | __GFP_IO | __GFP_FS)
GFP_CONSTRAINT_MASK = __GFP_HARDWALL | __GFP_THISNODE

# Names for printing and for parsing scenario files; bits first, then composites.
GFP_BITS = {
    "__GFP_DMA": __GFP_DMA, "__GFP_HIGHMEM": __GFP_HIGHMEM, "__GFP_DMA32": __GFP_DMA32,
    "__GFP_MOVABLE": __GFP_MOVABLE, "__GFP_RECLAIMABLE": __GFP_RECLAIMABLE, "__GFP_HIGH": __GFP_HIGH,
    "__GFP_IO": __GFP_IO, "__GFP_FS": __GFP_FS, "__GFP_WRITE": __GFP_WRITE,
    "__GFP_NOWARN": __GFP_NOWARN, "__GFP_RETRY_MAYFAIL": __GFP_RETRY_MAYFAIL,
    "__GFP_NOFAIL": __GFP_NOFAIL, "__GFP_NORETRY": __GFP_NORETRY, "__GFP_MEMALLOC": __GFP_MEMALLOC,
    "__GFP_COMP": __GFP_COMP, "__GFP_ZERO": __GFP_ZERO, "__GFP_NOMEMALLOC": __GFP_NOMEMALLOC,
    "__GFP_HARDWALL": __GFP_HARDWALL, "__GFP_THISNODE": __GFP_THISNODE, "__GFP_ATOMIC": __GFP_ATOMIC,
    "__GFP_ACCOUNT": __GFP_ACCOUNT, "__GFP_DIRECT_RECLAIM": __GFP_DIRECT_RECLAIM,
    "__GFP_KSWAPD_RECLAIM": __GFP_KSWAPD_RECLAIM,
}
GFP_COMPOSITES = {
    "GFP_ATOMIC": GFP_ATOMIC, "GFP_KERNEL": GFP_KERNEL, "GFP_KERNEL_ACCOUNT": GFP_KERNEL_ACCOUNT,
    "GFP_NOWAIT": GFP_NOWAIT, "GFP_NOIO": GFP_NOIO, "GFP_NOFS": GFP_NOFS, "GFP_USER": GFP_USER,
    "GFP_DMA": GFP_DMA, "GFP_DMA32": GFP_DMA32, "GFP_HIGHUSER": GFP_HIGHUSER,
    "GFP_HIGHUSER_MOVABLE": GFP_HIGHUSER_MOVABLE, "GFP_TRANSHUGE_LIGHT": GFP_TRANSHUGE_LIGHT,
    "GFP_TRANSHUGE": GFP_TRANSHUGE, "__GFP_RECLAIM": __GFP_RECLAIM,
}
GFP_NAMES = {**GFP_BITS, **GFP_COMPOSITES}

# x86-64: every zone type but HIGHMEM is configured.
DEFAULT_CONFIGURED_ZONES = frozenset({ZONE_DMA, ZONE_DMA32, ZONE_NORMAL, ZONE_MOVABLE})

# Bit combinations of GFP_ZONEMASK that GFP_ZONE_BAD marks as invalid.
GFP_ZONE_BAD = frozenset({0x3, 0x5, 0x6, 0x7, 0xB, 0xD, 0xE, 0xF})


def _opt_zone(zone, configured):
    """OPT_ZONE_DMA/OPT_ZONE_DMA32/OPT_ZONE_HIGHMEM: the zone if configured, else NORMAL."""
    return zone if zone in configured else ZONE_NORMAL


def gfp_zone(flags, configured=DEFAULT_CONFIGURED_ZONES):
    """gfp_zone(): the highest zone index a request may use, via GFP_ZONE_TABLE.

    Raises InvalidGfpZone for the GFP_ZONE_BAD combinations (the kernel's
    VM_BUG_ON under CONFIG_DEBUG_VM).
    """
    bits = flags & GFP_ZONEMASK
    if bits in GFP_ZONE_BAD:
        raise InvalidGfpZone(flags, bits)
    if bits in (0x0, 0x8):
        return ZONE_NORMAL
    if bits in (0x1, 0x9):
        return _opt_zone(ZONE_DMA, configured)
    if bits == 0x2:
        return _opt_zone(ZONE_HIGHMEM, configured)
    if bits in (0x4, 0xC):
        return _opt_zone(ZONE_DMA32, configured)
    return ZONE_MOVABLE  # 0xA: __GFP_MOVABLE | __GFP_HIGHMEM


def gfpflags_to_migratetype(gfp_flags, page_group_by_mobility_disabled=False):
    """gfpflags_to_migratetype(): the free-list type a request allocates from.

    Both __GFP_MOVABLE and __GFP_RECLAIMABLE at once is a caller bug (the
    kernel's VM_WARN_ON would yield MIGRATE_HIGHATOMIC); it raises
    InvalidGfpMigratetype.
    """
    if (gfp_flags & GFP_MOVABLE_MASK) == GFP_MOVABLE_MASK:
        raise InvalidGfpMigratetype(gfp_flags)
    if page_group_by_mobility_disabled:
        return MIGRATE_UNMOVABLE
    return (gfp_flags & GFP_MOVABLE_MASK) >> GFP_MOVABLE_SHIFT


def gfp_zonelist(flags):
    """gfp_zonelist(): ZONELIST_NOFALLBACK for __GFP_THISNODE, else ZONELIST_FALLBACK."""
    if flags & __GFP_THISNODE:
        return ZONELIST_NOFALLBACK
    return ZONELIST_FALLBACK


def gfpflags_allow_blocking(gfp_flags):
    """gfpflags_allow_blocking(): true when the request may enter direct reclaim."""
    return bool(gfp_flags & __GFP_DIRECT_RECLAIM)


def format_gfp(flags):
    """A readable name for a gfp mask: the largest composite that fits, then bits."""
    names = []
    rest = flags
    for name, value in sorted(GFP_COMPOSITES.items(), key=lambda kv: -bin(kv[1]).count("1")):
        if value and (rest & value) == value and bin(value).count("1") > 1:
            names.append(name)
            rest &= ~value
    for name, value in GFP_BITS.items():
        if rest & value:
            names.append(name)
            rest &= ~value
    if rest:
        names.append(hex(rest))
    return "|".join(names) if names else "0"


def parse_gfp(text):
    """Parse 'GFP_KERNEL|__GFP_NOWARN' or a number; raises ValueError naming the bad part."""
    if isinstance(text, int):
        return text
    value = 0
    for part in str(text).replace(" ", "").split("|"):
        if not part:
            raise ValueError(f"empty flag in gfp mask {text!r}")
        if part in GFP_NAMES:
            value |= GFP_NAMES[part]
            continue
        try:
            value |= int(part, 0)
        except ValueError:
            raise ValueError(f"unknown gfp flag {part!r} in {text!r}") from None
    return value
