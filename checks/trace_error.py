"""The error of a trace that cannot be loaded, replayed or printed."""

from buddycheck.model.errors import ConfigError


class TraceError(ConfigError):
    """A trace that cannot be loaded, replayed or printed; the message names the problem."""
