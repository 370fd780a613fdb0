"""What the system-call operations (set_mempolicy, mbind, cpuset writes) share: node ids are the user's input."""

from .base import config_check


def check_user_nodes(nodes, where):
    """Node ids only need to be ids: whether they exist is checked by the kernel itself (-EINVAL is a result worth
    exploring)."""
    for nid in sorted(nodes or ()):
        config_check(nid >= 0, where, "nodes", nid, "node ids are non-negative")
