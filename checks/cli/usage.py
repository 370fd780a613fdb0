"""The error of bad usage or input, in a module of its own so that every part of the command line can raise it."""


class UsageError(Exception):
    """Bad command-line usage or input; printed without a traceback, exit status 2."""
