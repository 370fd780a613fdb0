"""The vm sysctls the allocator reads, written at run time (kernel/sysctl.c, mm/page_alloc.c, 4.19).

A write of /proc/sys/vm/<name> runs the table entry's handler: the generic parser
(`proc_dointvec_minmax`, or `proc_dointvec`, which ignores the bounds) checks each integer against
the entry's extra1/extra2 and stores it, then the allocator's handler recomputes what depends on it:

- min_free_kbytes (extra1 0): user_min_free_kbytes, then the watermarks and totalreserve_pages;
- watermark_scale_factor (1..1000): the watermarks and totalreserve_pages;
- lowmem_reserve_ratio (one int per zone type, no bounds; the handler ignores the parser's return
  and always answers 0): lowmem_reserve and totalreserve_pages; a ratio below 1 of a zone that has
  a zone above it is written back as 0;
- percpu_pagelist_fraction (extra1 0): 1..7 is -EINVAL with the old value put back; an unchanged
  value recomputes nothing; otherwise every populated zone's per-cpu high and batch, on every CPU
  (the lists keep their pages: a count above the new high is spilled by the next free);
- zone_reclaim_mode (node_reclaim_mode; proc_dointvec: any int);
- numa_zonelist_order: 4.19 builds node-ordered zonelists only; a write starting with d, D, n or N
  is accepted and changes nothing, anything else is -EINVAL with a warning.

The model writes values, not text: an integer sysctl takes an int, lowmem_reserve_ratio a list of
ints (an int is a list of one; values past the table's MAX_NR_ZONES are ignored, as the parser
stops there; the empty list is -EINVAL as an empty write is), numa_zonelist_order a string; a value
outside the C int range is -EINVAL. A value of the wrong type is refused (InvalidOperation): no
write of text could produce it.

Simplified: the values a topology gives explicitly for a zone (watermarks, lowmem_reserve, pcp) stay
as given through every recomputation, as they did at boot; vm.numa_stat is not modelled (NUMA
statistics are always on).
"""

from dataclasses import dataclass

from .arguments import is_whole
from .errors import InvalidOperation
from .kernel import kernel_function
from .mempolicy import EINVAL  # the errno values live with the system calls that return most of them

INT_MAX = 2**31 - 1
INT_MIN = -(2**31)
MIN_PERCPU_PAGELIST_FRACTION = 8

INT, VECTOR, STRING = "int", "vector of int", "string"
TAKES = {INT: "an integer", VECTOR: "a list of integers", STRING: "a string"}  # for the error messages


@dataclass(frozen=True)
class CtlTable:
    """One entry of vm_table: the machine attribute holding .data, its handler, the parser's bounds."""

    procname: str
    data: str  # the attribute of the machine, named as the kernel variable
    proc_handler: str  # a kernel function name
    kind: str = INT
    extra1: int | None = None  # lower bound for proc_dointvec_minmax
    extra2: int | None = None  # upper bound


VM_TABLE = {t.procname: t for t in (
    CtlTable("min_free_kbytes", "min_free_kbytes", "min_free_kbytes_sysctl_handler", extra1=0),
    CtlTable("watermark_scale_factor", "watermark_scale_factor", "watermark_scale_factor_sysctl_handler",
             extra1=1, extra2=1000),
    CtlTable("lowmem_reserve_ratio", "sysctl_lowmem_reserve_ratio", "lowmem_reserve_ratio_sysctl_handler", VECTOR),
    CtlTable("percpu_pagelist_fraction", "percpu_pagelist_fraction", "percpu_pagelist_fraction_sysctl_handler",
             extra1=0),
    CtlTable("zone_reclaim_mode", "node_reclaim_mode", "proc_dointvec", extra1=0),
    CtlTable("numa_zonelist_order", "numa_zonelist_order", "numa_zonelist_order_handler", STRING),
)}

SYSCTL_NAMES = tuple(VM_TABLE)


def ctl_table(name):
    """The vm_table entry of `name`; InvalidOperation for a sysctl the model does not have."""
    table = VM_TABLE.get(name)
    if table is None:
        raise InvalidOperation(f"sysctl vm.{name}: not a sysctl the model has (known: {', '.join(SYSCTL_NAMES)})")
    return table


def check_sysctl_value(table, value):
    """Refuse a value no write of text could give the entry (a wrong type); any int is a possible write."""
    if table.kind == STRING:
        ok = isinstance(value, str)
    elif table.kind == VECTOR:
        ok = is_whole(value) or (isinstance(value, list | tuple) and all(is_whole(v) for v in value))
    else:
        ok = is_whole(value)
    if not ok:
        raise InvalidOperation(f"sysctl vm.{table.procname} = {value!r}: the sysctl takes {TAKES[table.kind]}")


def _values(table, value):
    return list(value) if isinstance(value, list | tuple) else [value]


@kernel_function
def proc_dointvec_minmax(k, table, value):
    """proc_dointvec_minmax(): store each int in turn while it is within extra1..extra2; else -EINVAL.

    Values past the table's length are ignored; an empty write is -EINVAL.
    """
    values = _values(table, value)
    if not values:
        return -EINVAL
    if table.kind == VECTOR:
        data = getattr(k, table.data)
        for i, v in enumerate(values[:len(data)]):
            if not _in_range(v, table.extra1, table.extra2):
                return -EINVAL
            data[i] = v
        return 0
    v = values[0]
    if not _in_range(v, table.extra1, table.extra2):
        return -EINVAL
    setattr(k, table.data, v)
    return 0


def _in_range(v, lo, hi):
    if not INT_MIN <= v <= INT_MAX:
        return False
    return (lo is None or v >= lo) and (hi is None or v <= hi)


@kernel_function
def proc_dointvec(k, table, value):
    """proc_dointvec(): proc_dointvec_minmax() with no bounds (extra1/extra2 are not read)."""
    return k.proc_dointvec_minmax(CtlTable(table.procname, table.data, table.proc_handler, table.kind), value)


@kernel_function
def setup_per_zone_wmarks(k):
    """setup_per_zone_wmarks(): __setup_per_zone_wmarks(), which ends with calculate_totalreserve_pages()."""
    k.__setup_per_zone_wmarks()
    k.calculate_totalreserve_pages()


@kernel_function
def min_free_kbytes_sysctl_handler(k, table, value):
    """min_free_kbytes_sysctl_handler(): parse, remember the value as the user's, recompute the watermarks."""
    rc = k.proc_dointvec_minmax(table, value)
    if rc:
        return rc
    k.user_min_free_kbytes = k.min_free_kbytes
    k.setup_per_zone_wmarks()
    return 0


@kernel_function
def watermark_scale_factor_sysctl_handler(k, table, value):
    """watermark_scale_factor_sysctl_handler(): parse (1..1000), recompute the watermarks."""
    rc = k.proc_dointvec_minmax(table, value)
    if rc:
        return rc
    k.setup_per_zone_wmarks()
    return 0


@kernel_function
def lowmem_reserve_ratio_sysctl_handler(k, table, value):
    """lowmem_reserve_ratio_sysctl_handler(): parse (the result is dropped), recompute lowmem_reserve; always 0."""
    k.proc_dointvec_minmax(table, value)
    k.setup_per_zone_lowmem_reserve()
    k.calculate_totalreserve_pages()
    return 0


@kernel_function
def percpu_pagelist_fraction_sysctl_handler(k, table, value):
    """percpu_pagelist_fraction_sysctl_handler(): 1..7 is -EINVAL (old value back); on a change, every pcp's limits."""
    old = k.percpu_pagelist_fraction
    ret = k.proc_dointvec_minmax(table, value)
    if ret < 0:
        return ret
    if k.percpu_pagelist_fraction and k.percpu_pagelist_fraction < MIN_PERCPU_PAGELIST_FRACTION:
        k.percpu_pagelist_fraction = old
        return -EINVAL
    if k.percpu_pagelist_fraction == old:
        return ret
    set_every_pageset(k)
    return ret


def set_every_pageset(k):
    """pageset_set_high_and_batch() of every CPU's pageset of every populated zone, as the handler loops."""
    for zone in k.populated_zones:
        for cpu in zone.pcp_cpus:
            k.pageset_set_high_and_batch(zone)
            pcp = zone.pageset[cpu]
            pcp.high, pcp.batch = zone.pcp_high, zone.pcp_batch


@kernel_function
def numa_zonelist_order_handler(k, table, value):
    """numa_zonelist_order_handler(): __parse_numa_zonelist_order() of the written string."""
    return k.__parse_numa_zonelist_order(value)


@kernel_function
def __parse_numa_zonelist_order(k, s):
    """__parse_numa_zonelist_order(): only the node order is left; a value not naming it (or default) warns, -EINVAL."""
    if not s or s[0] not in "dDnN":
        k.event("pr_warn", message=f"Ignoring unsupported numa_zonelist_order value: {s}")
        return -EINVAL
    return 0
