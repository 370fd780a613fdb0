"""GFP flags: values, gfp_zone, migratetype, zonelist choice, parsing and printing.

Expected values are written out from the 4.19 bit table (§2.1), not read back from the model.
"""

import pytest

import buddycheck.model.gfp as g
from buddycheck.model import Kernel419, preset
from buddycheck.model.constants import (
    MIGRATE_MOVABLE,
    MIGRATE_RECLAIMABLE,
    MIGRATE_UNMOVABLE,
    ZONE_DMA,
    ZONE_DMA32,
    ZONE_HIGHMEM,
    ZONE_MOVABLE,
    ZONE_NORMAL,
    ZONELIST_FALLBACK,
    ZONELIST_NOFALLBACK,
)
from buddycheck.model.errors import InvalidGfpMigratetype, InvalidGfpZone

# ---- bit values and composites ------------------------------------------------------------

BITS = {
    "__GFP_DMA": 0x01, "__GFP_HIGHMEM": 0x02, "__GFP_DMA32": 0x04, "__GFP_MOVABLE": 0x08,
    "__GFP_RECLAIMABLE": 0x10, "__GFP_HIGH": 0x20, "__GFP_IO": 0x40, "__GFP_FS": 0x80,
    "__GFP_WRITE": 0x100, "__GFP_NOWARN": 0x200, "__GFP_RETRY_MAYFAIL": 0x400, "__GFP_NOFAIL": 0x800,
    "__GFP_NORETRY": 0x1000, "__GFP_MEMALLOC": 0x2000, "__GFP_COMP": 0x4000, "__GFP_ZERO": 0x8000,
    "__GFP_NOMEMALLOC": 0x10000, "__GFP_HARDWALL": 0x20000, "__GFP_THISNODE": 0x40000,
    "__GFP_ATOMIC": 0x80000, "__GFP_ACCOUNT": 0x100000, "__GFP_DIRECT_RECLAIM": 0x200000,
    "__GFP_KSWAPD_RECLAIM": 0x400000,
}

# Each composite summed by hand from the bits above (gfp.h 4.19).
COMPOSITES = {
    "__GFP_RECLAIM": 0x600000,            # DIRECT_RECLAIM | KSWAPD_RECLAIM
    "GFP_ATOMIC": 0x480020,               # HIGH | ATOMIC | KSWAPD_RECLAIM
    "GFP_KERNEL": 0x6000C0,               # RECLAIM | IO | FS
    "GFP_KERNEL_ACCOUNT": 0x7000C0,       # GFP_KERNEL | ACCOUNT
    "GFP_NOWAIT": 0x400000,               # KSWAPD_RECLAIM
    "GFP_NOIO": 0x600000,                 # RECLAIM
    "GFP_NOFS": 0x600040,                 # RECLAIM | IO
    "GFP_USER": 0x6200C0,                 # RECLAIM | IO | FS | HARDWALL
    "GFP_DMA": 0x01,
    "GFP_DMA32": 0x04,
    "GFP_HIGHUSER": 0x6200C2,             # GFP_USER | HIGHMEM
    "GFP_HIGHUSER_MOVABLE": 0x6200CA,     # GFP_HIGHUSER | MOVABLE
    "GFP_TRANSHUGE_LIGHT": 0x0342CA,      # (HIGHUSER_MOVABLE | COMP | NOMEMALLOC | NOWARN) & ~RECLAIM
    "GFP_TRANSHUGE": 0x2342CA,            # TRANSHUGE_LIGHT | DIRECT_RECLAIM
}


def test_bit_values():
    wrong = {name: hex(getattr(g, name)) for name, value in BITS.items() if getattr(g, name) != value}
    assert wrong == {}
    assert g.GFP_BITS == BITS


def test_composite_values():
    wrong = {name: hex(getattr(g, name)) for name, value in COMPOSITES.items() if getattr(g, name) != value}
    assert wrong == {}
    assert {name: g.GFP_NAMES[name] for name in COMPOSITES} == COMPOSITES


def test_internal_masks():
    assert g.__GFP_BITS_SHIFT == 23 and g.__GFP_BITS_MASK == 0x7FFFFF  # no LOCKDEP
    assert g.__GFP_NOLOCKDEP == 0
    assert g.GFP_ZONEMASK == 0x0F
    assert g.GFP_MOVABLE_MASK == 0x18
    # RECLAIM|HIGH|IO|FS|NOWARN|RETRY_MAYFAIL|NOFAIL|NORETRY|MEMALLOC|NOMEMALLOC|ATOMIC
    assert g.GFP_RECLAIM_MASK == 0x693EE0
    assert g.GFP_BOOT_MASK == 0x1FFF3F  # every bit but RECLAIM|IO|FS
    assert g.GFP_CONSTRAINT_MASK == 0x60000  # HARDWALL|THISNODE


# ---- gfp_zone -----------------------------------------------------------------------------

X86_64 = frozenset({ZONE_DMA, ZONE_DMA32, ZONE_NORMAL, ZONE_MOVABLE})
ALL_ZONES = frozenset({ZONE_DMA, ZONE_DMA32, ZONE_NORMAL, ZONE_HIGHMEM, ZONE_MOVABLE})
X86_32 = frozenset({ZONE_DMA, ZONE_NORMAL, ZONE_HIGHMEM, ZONE_MOVABLE})
NO_DMA = frozenset({ZONE_DMA32, ZONE_NORMAL, ZONE_MOVABLE})

# GFP_ZONE_TABLE (§2.4): zone-modifier bits -> zone, for each configuration.
VALID_ZONE_BITS = {
    #      x86-64        all five      x86-32 (HIGHMEM)  no ZONE_DMA
    0x0: (ZONE_NORMAL, ZONE_NORMAL, ZONE_NORMAL, ZONE_NORMAL),
    0x1: (ZONE_DMA, ZONE_DMA, ZONE_DMA, ZONE_NORMAL),          # OPT_ZONE_DMA
    0x2: (ZONE_NORMAL, ZONE_HIGHMEM, ZONE_HIGHMEM, ZONE_NORMAL),  # OPT_ZONE_HIGHMEM
    0x4: (ZONE_DMA32, ZONE_DMA32, ZONE_NORMAL, ZONE_DMA32),    # OPT_ZONE_DMA32
    0x8: (ZONE_NORMAL, ZONE_NORMAL, ZONE_NORMAL, ZONE_NORMAL),  # MOVABLE alone
    0x9: (ZONE_DMA, ZONE_DMA, ZONE_DMA, ZONE_NORMAL),          # MOVABLE|DMA
    0xA: (ZONE_MOVABLE, ZONE_MOVABLE, ZONE_MOVABLE, ZONE_MOVABLE),  # MOVABLE|HIGHMEM
    0xC: (ZONE_DMA32, ZONE_DMA32, ZONE_NORMAL, ZONE_DMA32),    # MOVABLE|DMA32
}
BAD_ZONE_BITS = (0x3, 0x5, 0x6, 0x7, 0xB, 0xD, 0xE, 0xF)


def test_zone_table_covers_all_sixteen_combinations():
    assert sorted(list(VALID_ZONE_BITS) + list(BAD_ZONE_BITS)) == list(range(16))
    assert g.GFP_ZONE_BAD == frozenset(BAD_ZONE_BITS)


def test_gfp_zone_valid_combinations():
    configs = {"x86-64": X86_64, "all-zones": ALL_ZONES, "x86-32": X86_32, "no-dma": NO_DMA}
    other = g.GFP_KERNEL | g.__GFP_NOWARN | g.__GFP_THISNODE  # the other bits of the mask never matter
    for i, (name, configured) in enumerate(configs.items()):
        expected = {bits: row[i] for bits, row in VALID_ZONE_BITS.items()}
        assert (name, {bits: g.gfp_zone(bits, configured) for bits in VALID_ZONE_BITS}) == (name, expected)
        assert (name, {bits: g.gfp_zone(bits | other, configured) for bits in VALID_ZONE_BITS}) == (name, expected)


def test_gfp_zone_default_configuration_is_x86_64():
    assert g.DEFAULT_CONFIGURED_ZONES == X86_64
    assert g.gfp_zone(g.__GFP_HIGHMEM) == ZONE_NORMAL  # no HIGHMEM on x86-64


def test_gfp_zone_bad_combinations_raise():
    for configured in (X86_64, ALL_ZONES, X86_32, NO_DMA):
        for bits in BAD_ZONE_BITS:
            flags = g.GFP_KERNEL | bits
            with pytest.raises(InvalidGfpZone) as info:
                g.gfp_zone(flags, configured)
            assert (info.value.bits, info.value.flags) == (bits, flags)
            assert hex(bits) in str(info.value)


def test_gfp_zone_of_composites_on_x86_64():
    expected = {
        "GFP_KERNEL": ZONE_NORMAL, "GFP_USER": ZONE_NORMAL, "GFP_ATOMIC": ZONE_NORMAL, "GFP_DMA": ZONE_DMA,
        "GFP_DMA32": ZONE_DMA32,
        "GFP_HIGHUSER": ZONE_NORMAL,  # OPT_ZONE_HIGHMEM falls back to NORMAL on x86-64
        "GFP_HIGHUSER_MOVABLE": ZONE_MOVABLE, "GFP_TRANSHUGE": ZONE_MOVABLE,
    }
    assert {name: g.gfp_zone(g.GFP_NAMES[name]) for name in expected} == expected


def test_machine_uses_its_configured_zones_for_high_zoneidx():
    m = Kernel419(preset("numa2"))  # x86-64 configuration: no HIGHMEM
    m.alloc(g.GFP_HIGHUSER)
    assert m.last_ac.high_zoneidx == ZONE_NORMAL
    m.alloc(g.GFP_HIGHUSER_MOVABLE)
    assert m.last_ac.high_zoneidx == ZONE_MOVABLE


def test_invalid_zone_modifiers_through_alloc_raise_and_leave_state_unchanged():
    m = Kernel419(preset("numa2"))
    before = m.freeze()
    with pytest.raises(InvalidGfpZone):
        m.alloc(g.GFP_KERNEL | g.__GFP_DMA | g.__GFP_DMA32)
    assert m.freeze() == before


# ---- gfpflags_to_migratetype and gfp_zonelist ---------------------------------------------

def test_gfpflags_to_migratetype():
    assert g.gfpflags_to_migratetype(g.GFP_KERNEL) == MIGRATE_UNMOVABLE
    assert g.gfpflags_to_migratetype(g.GFP_ATOMIC) == MIGRATE_UNMOVABLE
    assert g.gfpflags_to_migratetype(g.GFP_HIGHUSER_MOVABLE) == MIGRATE_MOVABLE == 1
    assert g.gfpflags_to_migratetype(g.GFP_KERNEL | g.__GFP_RECLAIMABLE) == MIGRATE_RECLAIMABLE == 2


def test_gfpflags_to_migratetype_mobility_disabled_is_unmovable():
    for flags in (g.GFP_HIGHUSER_MOVABLE, g.GFP_KERNEL | g.__GFP_RECLAIMABLE, g.GFP_KERNEL):
        assert g.gfpflags_to_migratetype(flags, page_group_by_mobility_disabled=True) == MIGRATE_UNMOVABLE


@pytest.mark.parametrize("disabled", [False, True])
def test_gfpflags_to_migratetype_both_bits_raise(disabled):
    flags = g.GFP_KERNEL | g.__GFP_MOVABLE | g.__GFP_RECLAIMABLE
    with pytest.raises(InvalidGfpMigratetype) as info:
        g.gfpflags_to_migratetype(flags, disabled)
    assert info.value.flags == flags


def test_both_mobility_bits_through_alloc_raise_and_leave_state_unchanged():
    m = Kernel419(preset("numa2"))
    before = m.freeze()
    with pytest.raises(InvalidGfpMigratetype):
        m.alloc(g.GFP_KERNEL | g.__GFP_MOVABLE | g.__GFP_RECLAIMABLE)
    assert m.freeze() == before


def test_gfp_zonelist_and_allow_blocking():
    assert g.gfp_zonelist(g.GFP_KERNEL) == ZONELIST_FALLBACK == 0
    assert g.gfp_zonelist(g.GFP_KERNEL | g.__GFP_THISNODE) == ZONELIST_NOFALLBACK == 1
    assert g.gfp_zonelist(g.__GFP_THISNODE) == ZONELIST_NOFALLBACK
    assert g.gfpflags_allow_blocking(g.GFP_KERNEL)
    assert g.gfpflags_allow_blocking(g.GFP_NOIO)
    assert not g.gfpflags_allow_blocking(g.GFP_ATOMIC)
    assert not g.gfpflags_allow_blocking(g.GFP_NOWAIT)


# ---- parse_gfp / format_gfp ---------------------------------------------------------------

def test_parse_gfp():
    cases = {
        "GFP_KERNEL": 0x6000C0,
        "GFP_KERNEL|__GFP_NOWARN": 0x6002C0,
        " GFP_ATOMIC | __GFP_NOWARN ": 0x480220,
        "GFP_NOWAIT|0x200": 0x400200,
        "0x20": 0x20,
        "32": 32,
        "__GFP_DMA|__GFP_DMA": 0x01,
    }
    assert {text: g.parse_gfp(text) for text in cases} == cases
    assert g.parse_gfp(0x6000C0) == 0x6000C0  # integers pass through


def test_parse_gfp_errors_name_the_bad_part():
    cases = {
        "GFP_KERNAL": "GFP_KERNAL",
        "GFP_KERNEL|__GFP_NOWRN": "__GFP_NOWRN",
        "GFP_KERNEL||__GFP_NOWARN": "empty flag",
        "": "empty flag",
        "GFP_KERNEL|": "empty flag",
    }
    for text, needle in cases.items():
        with pytest.raises(ValueError) as info:
            g.parse_gfp(text)
        assert needle in str(info.value)


def test_format_gfp():
    cases = {
        0: "0",
        0x6000C0: "GFP_KERNEL",
        0x6002C0: "GFP_KERNEL|__GFP_NOWARN",
        0x6200CA: "GFP_HIGHUSER_MOVABLE",
        0x01: "__GFP_DMA",
        0x400000: "__GFP_KSWAPD_RECLAIM",  # a one-bit composite prints as its bit
    }
    assert {value: g.format_gfp(value) for value in cases} == cases


def test_format_gfp_shows_unknown_bits_in_hex():
    assert g.format_gfp(g.GFP_KERNEL | 0x800000) == "GFP_KERNEL|0x800000"


def test_parse_format_round_trip_over_every_name_pair():
    names = list(g.GFP_NAMES.values())
    for a in names:
        for b in names:
            value = a | b
            assert g.parse_gfp(g.format_gfp(value)) == value


def test_parse_format_round_trip_every_single_bit_and_beyond_the_mask():
    for shift in range(26):
        value = g.GFP_KERNEL | (1 << shift)
        assert g.parse_gfp(g.format_gfp(value)) == value
