"""Errors the model raises for misuse: each names the problem and the values.

A raised error leaves the machine's state as it was before the call.
"""


class ModelError(Exception):
    """Base of every error the model raises for bad input or misuse."""


class ConfigError(ModelError):
    """A topology or scenario is malformed; the message names the key and the value."""


class InvalidGfpZone(ModelError):
    """gfp_zone() met a GFP_ZONE_BAD combination (the kernel's BUG under DEBUG_VM)."""

    def __init__(self, flags, bits):
        super().__init__(f"gfp_zone: invalid zone modifier combination {bits:#x} in gfp mask {flags:#x}")
        self.flags = flags
        self.bits = bits


class InvalidGfpMigratetype(ModelError):
    """__GFP_MOVABLE and __GFP_RECLAIMABLE together (the kernel's VM_WARN_ON)."""

    def __init__(self, flags):
        super().__init__(f"gfpflags_to_migratetype: __GFP_MOVABLE and __GFP_RECLAIMABLE both set in {flags:#x}")
        self.flags = flags


class BadPage(ModelError):
    """A free that the kernel's bad_page()/free_pages_check would report."""


class DoubleFree(BadPage):
    """The block is already free."""


class NotAllocated(BadPage):
    """The pfn is not the head of an allocated block."""


class WrongOrder(BadPage):
    """The block was allocated with a different order."""


class InvalidOperation(ModelError):
    """An operation that names something the machine does not have (a CPU, a node, a pfn range)."""


class StateMismatch(ModelError):
    """restore() of a frozen state this machine cannot hold: another machine's, or a malformed one.

    The message names the first part that differs (the zones, a zone's free lists, a CPU's lists, a task...);
    the machine is left as it was.
    """


class OutOfZoneAccess(Exception):
    """The model read or wrote a struct page or a pageblock flag that does not exist (KASAN's report).

    Not a ModelError: the operation was enabled, and the model (a variant) went outside the memory map.
    pfn is the pfn accessed, function the kernel function that accessed it, caller the one that called it.
    """

    def __init__(self, message, pfn, function, caller=None):
        super().__init__(message)
        self.pfn = pfn
        self.function = function
        self.caller = caller
