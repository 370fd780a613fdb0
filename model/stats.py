"""Statistics (mm/vmstat.c counters): observations only, never part of a frozen state.

NR_FREE_PAGES, nr_free and nr_reserved_highatomic are state and live on the
zone; the counters here only grow (NUMA_HIT/MISS/FOREIGN/INTERLEAVE_HIT/
LOCAL/OTHER per zone, PGALLOC per zone type, PGFREE, COMPACTSTALL), so
keeping them out of the fingerprint is what lets an exploration finish.
"""

from collections import Counter

NUMA_COUNTERS = ("numa_hit", "numa_miss", "numa_foreign", "numa_interleave_hit", "numa_local", "numa_other")


class Stats:
    """Per-zone NUMA counters keyed by (nid, zone index), and global event counters."""

    def __init__(self):
        self.zone = Counter()
        self.pgalloc = Counter()
        self.pgfree = 0
        self.compactstall = 0

    def add(self, zone, name, n=1):
        self.zone[(zone.nid, zone.idx, name)] += n

    def get(self, nid, zone_idx, name):
        return self.zone[(nid, zone_idx, name)]

    def node(self, nid, name):
        """Per-node numastat: the sum over the node's zones."""
        return sum(v for (n, _, key), v in self.zone.items() if n == nid and key == name)

    def count_pgalloc(self, zone, n):
        self.pgalloc[zone.idx] += n
