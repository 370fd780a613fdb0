"""`--picture FILE` on explore and check: the first counterexample drawn (checks/picture.py).

The path is refused before the search (an unknown suffix, matplotlib not installed, a folder that
cannot be written: exit 2), so a long search never ends without the picture asked for; the picture is
drawn after the report (a failure then: checks/cli/output.py).
"""

from ..picture import PictureError, require_plotting, write_violation_picture
from .common import UsageError, check_writable


def add_picture_option(p):
    p.add_argument("--picture", metavar="FILE",
                   help="draw the first counterexample, one row per state, to FILE (.png or .svg; "
                        "pip install 'buddycheck[plot]')")


def picture_usage(args):
    """Refuse --picture before the search: an unknown suffix, no matplotlib, a folder that cannot be written."""
    if args.picture is None:
        return
    check_writable(args.picture, "--picture")  # first: a path that cannot be written is wrong whatever is installed
    try:
        require_plotting(args.picture)
    except PictureError as e:
        raise UsageError(f"--picture {e}") from None  # e names the path


def write_picture_of(args, sc, violation, files):
    """Draw `violation` (on scenario sc) to --picture's file, if one was given (files: the run's OutputFiles)."""
    if args.picture is not None:
        files.write("--picture", args.picture, lambda: write_violation_picture(sc, violation, args.picture))
