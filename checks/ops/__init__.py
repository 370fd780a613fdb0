"""Operations a scenario may perform: immutable values that apply themselves to a machine and print as code.

One operation class per module; each declares on itself what the rest of the checker needs to know
about it (checks/ops/base.py): its JSON name, its rank for the shrinker, whether it names pfns or
allocates, how its fields are read and written. Each operation's `code()` is the Python statement
that replays it on a machine `m`, so a trace of operations prints as a runnable program.

Importing this package registers every operation, in the order below (the order errors list the
known kinds in); `OPERATIONS` maps each kind to its class.
"""

# registration order: the order the known kinds are listed in
# isort: off
from .alloc import Alloc
from .free import Free
from .drain import Drain
from .isolate import Isolate
from .undo_isolate import UndoIsolate
from .alloc_pages import AllocPages
from .set_mempolicy import SetMempolicy
from .set_cpuset import SetCpuset
from .mmap import Mmap
from .alloc_vma import AllocVma
from .add_task import AddTask
from .mbind import Mbind
from .set_memcg_limit import SetMemcgLimit
from .get_mempolicy import GetMempolicy
from .fault import Fault
from .munmap import Munmap
from .concurrent import Concurrent
from .sysctl import Sysctl
from .fork import Fork
from .migrate_pages import MigratePages
from .move_pages import MovePages
from .mmap_shared import MmapShared
from .mmap_file import MmapFile
# isort: on
from .base import OPERATIONS, SETUP_RANK, Operation, config_check, is_operation, operation, unregister
from .code import ANSWER_NAMES, env_code, field_code, gfp_code, name_imports, nodes_code, run_with_env, with_env
from .fields import GfpMask
from .request import CONTEXT_FLAGS

__all__ = [
    "ANSWER_NAMES", "CONTEXT_FLAGS", "OPERATIONS", "SETUP_RANK", "AddTask", "Alloc", "AllocPages", "AllocVma",
    "Concurrent", "Drain", "Fault", "Fork", "Free",
    "GetMempolicy", "GfpMask", "Isolate", "Mbind", "MigratePages", "Mmap", "MmapFile", "MmapShared", "MovePages",
    "Munmap", "Operation", "SetCpuset", "SetMemcgLimit",
    "SetMempolicy", "Sysctl", "UndoIsolate", "config_check", "env_code", "field_code", "gfp_code", "is_operation",
    "name_imports", "nodes_code", "operation", "run_with_env", "unregister", "with_env",
]
