"""Planted slips in the sysctl handlers (model/sysctl.py), each caught by config_consistency after one write.

1. pcp-fraction-no-recompute   percpu_pagelist_fraction_sysctl_handler stores the value, recomputes nothing
2. pcp-fraction-accepts-small  percpu_pagelist_fraction_sysctl_handler drops the MIN_PERCPU_PAGELIST_FRACTION check
3. min-free-no-totalreserve     min_free_kbytes_sysctl_handler recomputes the watermarks, not totalreserve_pages
"""

from buddycheck.model import Kernel419
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


SYSCTL_VARIANTS = (PcpFractionNoRecompute, PcpFractionAcceptsSmall, MinFreeNoTotalreserve)
