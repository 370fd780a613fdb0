"""A stop asked for by a signal and not yet honoured: `requested` is non-empty from the first Ctrl-C or SIGTERM
until a search has stopped on it.

The signal handler (checks/cli/signals.py) sets it and raises KeyboardInterrupt at once; the searches test
it between states as well, because a KeyboardInterrupt raised where a library swallows it (a weakref
callback, a finaliser) would otherwise be lost and the search would run to its end. A module of its own
so that the engine can read what the command line sets without importing the command line.
"""

requested = []


def honour():
    """Raise the requested stop, once; a search calls this between states."""
    if requested:
        requested.clear()
        raise KeyboardInterrupt
