"""What the allocation requests (alloc, alloc_pages, alloc_vma) share: the caller's context flags, their simplicity."""

# the flags of model/machine.py's Current that the model reads (spec/steps.py's Request knows the first five)
CONTEXT_FLAGS = ("in_interrupt", "in_serving_softirq", "pf_memalloc", "rt_task", "oom_victim", "memalloc_noio",
                 "memalloc_nofs", "pf_dumpcore")


def request_simplicity(op):
    """Fewer gfp bits, then a smaller mask, then fewer context flags (and THP), then a smaller nodemask."""
    flags = tuple(f for f in (*CONTEXT_FLAGS, "hugepage") if getattr(op, f, False))
    return (bin(op.gfp).count("1"), op.gfp, len(flags), flags, sorted(getattr(op, "nodes", None) or ()))
