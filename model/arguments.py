"""Checks of the numbers the machine's operations take: a CPU, node, task, order or pfn is a whole number.

Python's bool is an int (True == 1), so `cpu=True` would otherwise be taken as CPU 1; the operations refuse
it, and any other non-integer, with InvalidOperation before anything changes.
"""

from .errors import InvalidOperation


def is_whole(value):
    """An int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_whole(value, what):
    """value itself if it is an int and not a bool; InvalidOperation naming `what` otherwise."""
    if not is_whole(value):
        raise InvalidOperation(f"{what} {value!r}: must be an integer ({type(value).__name__} given)")
    return value
