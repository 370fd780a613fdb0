"""Machine operations for NUMA memory policy. Being written."""


class MempolicyOps:
    """Operations a scenario uses to drive mempolicy: set a policy, mbind, change a cpuset, allocate."""
