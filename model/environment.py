"""What lies outside the allocator: the answers the model asks of its environment.

Where 4.19's outcome depends on something the model does not simulate (fault
injection, node_reclaim's page cache scan, dirty limits, reclaim, compaction,
the OOM killer, a sleeping lock held by another task: model/locks.py), the
model asks an `Environment`. The default answers are
those of an idle machine with no page cache and nothing to kill; a scenario
enumerates other `Environment` values as explicit choices.
"""

from dataclasses import dataclass

from .constants import COMPACT_SKIPPED, NODE_RECLAIM_FULL


@dataclass(frozen=True)
class Environment:
    """Fixed answers, one per question; immutable and hashable so a checker can enumerate them."""

    fail_alloc: bool = False  # should_fail_alloc_page()'s fault attribute
    node_reclaim_result: int = NODE_RECLAIM_FULL  # node_reclaim(): NOSCAN -2, FULL -1, SOME 0, SUCCESS 1
    dirty_ok: bool = True  # node_dirty_ok()
    reclaim_progress: int = 0  # pages try_to_free_pages() reports
    compact_result: int = COMPACT_SKIPPED  # try_to_compact_pages()
    reclaimable_pages: int = 0  # zone_reclaimable_pages() of every zone
    oom_victim_found: bool = False  # out_of_memory()
    pcpu_drain_mutex_held: bool = False  # another task holds pcpu_drain_mutex at drain_all_pages' first trylock
    oom_lock_held: bool = False  # another task holds oom_lock at __alloc_pages_may_oom's first trylock

    def should_fail_alloc_page(self, k, gfp_mask, order):
        return self.fail_alloc

    def node_reclaim(self, k, pgdat, gfp_mask, order):
        return self.node_reclaim_result

    def node_dirty_ok(self, k, pgdat):
        return self.dirty_ok

    def try_to_free_pages(self, k, ac, order, gfp_mask):
        return self.reclaim_progress

    def try_to_compact_pages(self, k, ac, order, gfp_mask, alloc_flags, prio):
        return self.compact_result

    def zone_reclaimable_pages(self, k, zone):
        return self.reclaimable_pages

    def out_of_memory(self, k, ac, order, gfp_mask):
        return self.oom_victim_found

    def mutex_held(self, k, lock):
        """Whether another task holds `lock` (a name of model/locks.py) when the operation first tries it."""
        return getattr(self, f"{lock}_held")

    def describe(self):
        """Only the answers that differ from the idle default, for printing."""
        default = Environment()
        parts = [f"{name}={getattr(self, name)!r}" for name in self.__dataclass_fields__
                 if getattr(self, name) != getattr(default, name)]
        return "Environment(" + ", ".join(parts) + ")"


IDLE = Environment()
