"""Named variants of the 4.19 model, for `buddycheck diff` and the tests.

- "4.19" (Kernel419): stable 4.19 with the mpol_rebind_nodemask fix 29b190fa774d.
- "4.19.0" (Kernel419_0): 4.19.0 as released. mpol_rebind_nodemask, for a
  policy without STATIC/RELATIVE, stores the remapped nodes instead of the new
  cpuset mems in w.cpuset_mems_allowed (a mistake from 4.15, fixed in 5.2 and
  in the stable trees). The next rebind then remaps from the policy's own
  nodes, so a node's rank among the cpuset mems is lost.

Each variant overrides only the kernel functions named here and inherits the rest.
"""

from dataclasses import replace

from .machine import Kernel419
from .mempolicy import MPOL_F_RELATIVE_NODES, MPOL_F_STATIC_NODES
from .nodemask import mpol_relative_nodemask, nodes_remap

Kernel419_0 = Kernel419.variant(
    "4.19.0",
    "Linux 4.19.0 as released: mpol_rebind_nodemask stores the remapped nodes as w.cpuset_mems_allowed",
)


@Kernel419_0.override
def mpol_rebind_nodemask(k, pol, nodes):
    """mpol_rebind_nodemask() as released in 4.19.0: w.cpuset_mems_allowed becomes the remapped nodes."""
    nodes = frozenset(nodes)
    if pol.flags & MPOL_F_STATIC_NODES:
        tmp = pol.user_nodemask & nodes
    elif pol.flags & MPOL_F_RELATIVE_NODES:
        tmp = mpol_relative_nodemask(pol.user_nodemask, nodes)
    else:
        tmp = nodes_remap(pol.nodes, pol.cpuset_mems_allowed, nodes)
        pol = replace(pol, cpuset_mems_allowed=tmp)
    if not tmp:
        tmp = nodes
    return replace(pol, nodes=tmp)


VARIANTS = {
    "4.19": Kernel419,
    "4.19.0": Kernel419_0,
}
