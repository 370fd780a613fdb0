"""The sysctl operation: a write of one of the vm sysctls the allocator reads (model/sysctl.py)."""

from dataclasses import dataclass

from buddycheck.model.errors import InvalidOperation
from buddycheck.model.sysctl import VM_TABLE, check_sysctl_value

from .base import Operation, config_check, operation
from .fields import SysctlValue


@operation
@dataclass(frozen=True)
class Sysctl(Operation):
    """A write of /proc/sys/vm/<name>: its handler's 0 or -errno; the limits that follow it are recomputed."""

    kind = "sysctl"
    rank = 11
    returns_errno = True

    name: str
    value: SysctlValue  # an int, a string (numa_zonelist_order) or a tuple of ints (lowmem_reserve_ratio)

    def simplicity(self):
        return (self.name, repr(self.value))

    def validate(self, m, where):
        config_check(self.name in VM_TABLE, where, "name", self.name,
                     f"not a sysctl the model has (known: {', '.join(VM_TABLE)})")
        try:
            check_sysctl_value(VM_TABLE[self.name], self.value)
        except InvalidOperation as e:
            config_check(False, where, "value", self.value, str(e).split(": ", 1)[-1])

    def apply(self, m):
        return m.sysctl(self.name, self.value)

    def code(self, m="m"):
        return f"{m}.sysctl({self.name!r}, {self.value!r})"
