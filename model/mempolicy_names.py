"""The kernel's names for mempolicy modes, mode flags, system call flags and errno values, for printing.

Every printed form (results, step comments, printed programs) names these values as the uapi headers
do (MPOL_BIND|MPOL_F_STATIC_NODES, -EINVAL); bits without a name stay as one hex number.
"""

from .mempolicy import (
    EACCES,
    EBUSY,
    EFAULT,
    EINVAL,
    EIO,
    ENODEV,
    ENOENT,
    ENOMEM,
    ENOSPC,
    EPERM,
    ERANGE,
    ESRCH,
    MPOL_F_ADDR,
    MPOL_F_MEMS_ALLOWED,
    MPOL_F_NODE,
    MPOL_F_RELATIVE_NODES,
    MPOL_F_STATIC_NODES,
    MPOL_MF_MOVE,
    MPOL_MF_MOVE_ALL,
    MPOL_MF_STRICT,
    MPOL_MODE_FLAGS,
    MPOL_MODE_NAMES,
)

MODE_FLAG_NAMES = {"MPOL_F_STATIC_NODES": MPOL_F_STATIC_NODES, "MPOL_F_RELATIVE_NODES": MPOL_F_RELATIVE_NODES}
MBIND_FLAG_NAMES = {"MPOL_MF_STRICT": MPOL_MF_STRICT, "MPOL_MF_MOVE": MPOL_MF_MOVE,
                    "MPOL_MF_MOVE_ALL": MPOL_MF_MOVE_ALL}
GET_FLAG_NAMES = {"MPOL_F_NODE": MPOL_F_NODE, "MPOL_F_ADDR": MPOL_F_ADDR, "MPOL_F_MEMS_ALLOWED": MPOL_F_MEMS_ALLOWED}
ERRNO_NAMES = {EPERM: "EPERM", ENOENT: "ENOENT", ESRCH: "ESRCH", EIO: "EIO", ENOMEM: "ENOMEM", EACCES: "EACCES",
               EFAULT: "EFAULT", EBUSY: "EBUSY", ENODEV: "ENODEV", EINVAL: "EINVAL", ENOSPC: "ENOSPC", ERANGE: "ERANGE"}


def flag_names(value, names):
    """The names of the bits of `value` in `names` (name -> bit), then the rest as one hex number; [] for 0."""
    parts = []
    for name, bit in names.items():
        if value & bit:
            parts.append(name)
            value &= ~bit
    if value:
        parts.append(hex(value))
    return parts


def mode_names(mode):
    """A set_mempolicy/mbind mode argument as [mode name, mode flag names...]; an unknown mode as hex."""
    base = mode & ~MPOL_MODE_FLAGS
    head = MPOL_MODE_NAMES[base] if 0 <= base < len(MPOL_MODE_NAMES) else hex(base)
    return [head, *flag_names(mode & MPOL_MODE_FLAGS, MODE_FLAG_NAMES)]


def format_mode(mode):
    """'MPOL_BIND|MPOL_F_STATIC_NODES' for a mode argument."""
    return "|".join(mode_names(mode))


def format_flags(flags, names):
    """'MPOL_MF_STRICT|MPOL_MF_MOVE' for flags over `names`; '0' when none is set."""
    return "|".join(flag_names(flags, names)) or "0"


def format_ret(ret):
    """A system call's return: 0, or -ENAME for a known errno."""
    return f"-{ERRNO_NAMES[-ret]}" if ret < 0 and -ret in ERRNO_NAMES else str(ret)
