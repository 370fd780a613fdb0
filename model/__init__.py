"""An executable model of the Linux 4.19 page allocator."""

from .environment import IDLE, Environment
from .errors import BadPage, ConfigError, DoubleFree, InvalidOperation, ModelError, NotAllocated, WrongOrder
from .machine import Kernel419
from .presets import PRESETS, preset
from .results import AllocResult, Event, OpResult, SyscallResult
from .task import Task
from .topology import NodeSpec, Topology, ZoneSpec

__all__ = [
    "AllocResult", "BadPage", "ConfigError", "DoubleFree", "Environment", "Event", "IDLE", "InvalidOperation",
    "Kernel419", "ModelError", "NodeSpec", "NotAllocated", "OpResult", "PRESETS", "SyscallResult", "Task",
    "Topology", "WrongOrder", "ZoneSpec", "preset",
]
