"""What the command line says when buddycheck itself fails: an unexpected exception ends the run with
exit status 4 (checks/exit_codes.py), never 1, since nothing was judged. One message names the
exception and the innermost line of buddycheck's own code it went through, and how to report it;
with BUDDYCHECK_TRACEBACK=1 in the environment the whole traceback is printed as well.
"""

import os
import sys
import traceback

TRACEBACK_VARIABLE = "BUDDYCHECK_TRACEBACK"

# model/, spec/ and checks/ sit side by side (the source tree, or the installed buddycheck package)
_PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_PROJECT_DIRS = tuple(os.path.join(_PROJECT_ROOT, d) + os.sep for d in ("model", "spec", "checks"))


def innermost_project_frame(exc):
    """(file relative to the project, line, function) of the deepest buddycheck frame of exc's traceback, or None."""
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        path = os.path.abspath(frame.filename)
        if path.startswith(_PROJECT_DIRS):
            found = (os.path.relpath(path, _PROJECT_ROOT), frame.lineno, frame.name)
    return found


def internal_error_lines(exc):
    """The message of an unexpected exception: what it is, where it happened, how to report it."""
    where = innermost_project_frame(exc)
    at = f" at {where[0]}:{where[1]} in {where[2]}" if where else ""
    message = str(exc).splitlines()[0] if str(exc) else ""
    return [f"buddycheck: internal error: {type(exc).__name__}{': ' if message else ''}{message}{at}",
            f"buddycheck: this is a bug in buddycheck, not a verdict on the model; rerun with "
            f"{TRACEBACK_VARIABLE}=1 for the full traceback and include it when you report the bug"]


def report_internal_error(exc):
    """Print the message (and the traceback when asked for) on standard error."""
    if os.environ.get(TRACEBACK_VARIABLE, "") not in ("", "0"):
        traceback.print_exception(exc, file=sys.stderr)
    for line in internal_error_lines(exc):
        print(line, file=sys.stderr)
