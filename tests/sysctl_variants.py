"""Planted slips in the sysctl handlers (model/sysctl.py), each caught by config_consistency after one write.

1. pcp-fraction-no-recompute   percpu_pagelist_fraction_sysctl_handler stores the value, recomputes nothing
2. pcp-fraction-accepts-small  percpu_pagelist_fraction_sysctl_handler drops the MIN_PERCPU_PAGELIST_FRACTION check
3. min-free-no-totalreserve     min_free_kbytes_sysctl_handler recomputes the watermarks, not totalreserve_pages

and two caught by sysctl_write alone, the limits being consistent with what the sysctls hold:

4. scale-factor-clamps          watermark_scale_factor above 1000 is stored as 1000 and answered 0
5. reclaim-mode-refused-stores  zone_reclaim_mode refuses a negative mode with -EINVAL after storing it
"""

from buddycheck.model import Kernel419
from buddycheck.model.kernel import KERNEL_FUNCTIONS
from buddycheck.model.sysctl import MIN_PERCPU_PAGELIST_FRACTION, set_every_pageset

PcpFractionNoRecompute = Kernel419.variant(
    "pcp-fraction-no-recompute",
    "percpu_pagelist_fraction_sysctl_handler() stores the new fraction but leaves every pcp's high and batch")


@PcpFractionNoRecompute.override
def percpu_pagelist_fraction_sysctl_handler(k, table, value):
    """The handler without its loop over the populated zones.

    What is wrong: the lists keep the high and batch of the old fraction, so a fraction meant to make
    the per-cpu lists small (or large) changes nothing until the next boot.
    """
    old = k.percpu_pagelist_fraction
    ret = k.proc_dointvec_minmax(table, value)
    if ret < 0:
        return ret
    if k.percpu_pagelist_fraction and k.percpu_pagelist_fraction < MIN_PERCPU_PAGELIST_FRACTION:
        k.percpu_pagelist_fraction = old
        return -22
    return ret  # the slip: no pageset_set_high_and_batch() for each zone and CPU


PcpFractionAcceptsSmall = Kernel419.variant(
    "pcp-fraction-accepts-small",
    "percpu_pagelist_fraction_sysctl_handler() without the check that refuses 1..7")


@PcpFractionAcceptsSmall.override
def percpu_pagelist_fraction_sysctl_handler(k, table, value):  # noqa: F811  (each variant has its own)
    """The handler as it would read without the sanity check against pcp imbalance.

    What is wrong: a fraction of 1..7 lets a single CPU's list hold up to a whole zone; 4.19 refuses
    it with -EINVAL and keeps the old value.
    """
    old = k.percpu_pagelist_fraction
    ret = k.proc_dointvec_minmax(table, value)
    if ret < 0 or k.percpu_pagelist_fraction == old:
        return ret
    set_every_pageset(k)
    return ret


MinFreeNoTotalreserve = Kernel419.variant(
    "min-free-no-totalreserve",
    "min_free_kbytes_sysctl_handler() recomputes the watermarks without calculate_totalreserve_pages()")


@MinFreeNoTotalreserve.override
def min_free_kbytes_sysctl_handler(k, table, value):
    """The handler calling the model's __setup_per_zone_wmarks() alone.

    What is wrong: 4.19's __setup_per_zone_wmarks() ends by updating totalreserve_pages from the new
    high watermarks; without it the reserve the dirty limits and OOM heuristics read stays stale.
    """
    rc = k.proc_dointvec_minmax(table, value)
    if rc:
        return rc
    k.user_min_free_kbytes = k.min_free_kbytes
    k.__setup_per_zone_wmarks()  # the slip: no calculate_totalreserve_pages()
    return 0


ScaleFactorClamps = Kernel419.variant(
    "scale-factor-clamps",
    "watermark_scale_factor_sysctl_handler() stores a value above 1000 as 1000 and answers 0")


@ScaleFactorClamps.override
def watermark_scale_factor_sysctl_handler(k, table, value):
    """The handler clamping instead of refusing.

    What is wrong: the write succeeds but the sysctl reads back as another value than the one written;
    4.19's parser answers -EINVAL and leaves the old value.
    """
    if value > table.extra2:
        value = table.extra2  # the slip: clamped, not refused
    ret = k.proc_dointvec_minmax(table, value)
    if ret:
        return ret
    k.setup_per_zone_wmarks()
    return 0


ReclaimModeRefusedStores = Kernel419.variant(
    "reclaim-mode-refused-stores",
    "zone_reclaim_mode is refused when negative, but only after the parser stored it")


@ReclaimModeRefusedStores.override
def proc_dointvec(k, table, value):
    """proc_dointvec() with a late check of the sign.

    What is wrong: the answer says the write failed while the value is in place; 4.19 stores nothing
    it refuses.
    """
    ret = KERNEL_FUNCTIONS["proc_dointvec"](k, table, value)
    if ret == 0 and value < 0:
        return -22  # the slip: -EINVAL with the value stored
    return ret


SYSCTL_VARIANTS = (PcpFractionNoRecompute, PcpFractionAcceptsSmall, MinFreeNoTotalreserve, ScaleFactorClamps,
                   ReclaimModeRefusedStores)
