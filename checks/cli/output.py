"""Where a command's results go, and what happens when they cannot go there.

The rule: an output that cannot be written (the report on standard output, or a file asked for with
--junit, --coverage, --picture, --emit-pytest) ends the run with exit status 2 and one line on
standard error naming it, whatever the verdict would have been, since the caller did not get what it
asked for. A file is written after the report, so a file that fails (a full disk) leaves the report
printed, and the other files are still written. A reader that closes the pipe early is
not a failure: that ends quietly with status 141, as a program killed by SIGPIPE would
(checks/cli/__init__.py).
"""

import sys

from ..exit_codes import EXIT_USAGE
from ..picture import PictureError
from ..trace_error import TraceError
from .paths import reason


class OutputLost(Exception):
    """Standard output could not be written (a full disk, an I/O error); exit status 2."""

    def __init__(self, error):
        super().__init__(f"cannot write the report to standard output: {reason(error)}")


def print_report(*lines):
    """`out` of every command: a line of the report on standard output."""
    try:
        print(*lines)
    except BrokenPipeError:
        raise
    except OSError as e:
        raise OutputLost(e) from None


def flush_report():
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as e:
        raise OutputLost(e) from None


class OutputFiles:
    """The files one run writes after its report: a failure is a line on standard error, then exit 2."""

    def __init__(self):
        self.failed = False

    def write(self, option, path, write):
        """Call write(); an error (OSError, or the project's error naming the path) is reported, not raised."""
        try:
            write()
        except OSError as e:
            self._failed(f"{option} {path}: cannot write it ({reason(e)})")
        except (TraceError, PictureError) as e:  # the writers' own errors, which name the path
            self._failed(f"{option} {path}: {e}")

    def _failed(self, message):
        self.failed = True
        print(f"buddycheck: error: {message}", file=sys.stderr, flush=True)

    def status(self, code):
        """The exit status: 2 if a file could not be written, else the run's own."""
        return EXIT_USAGE if self.failed else code
