"""The files and folders named on the command line, refused with exit status 2 and a message naming
the option and the path before any work starts: an empty path, a missing one, a directory where a
file is wanted (or a file with a trailing slash), a symbolic link loop, a name too long, a file that
cannot be read, text that is not UTF-8; and, for an output, a path that cannot be written.
"""

import errno
import os
import stat

from buddycheck.model.input_file import read_input_text, reason

from .usage import UsageError


def _named(option, path):
    return f"{option} {path}" if option else path


def missing(path):
    """Whether nothing is at path (and not another reason it cannot be reached: a loop, a name too long)."""
    try:
        os.stat(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return False


def check_readable(path, option, folder=False):
    """Refuse an input path (a file, or with `folder` a folder) that cannot be read; returns it."""
    if path == "":
        raise UsageError(f"{option} '': an empty path")
    try:
        st = os.stat(path)
    except OSError as e:
        raise UsageError(f"{_named(option, path)}: {reason(e)}") from None
    if folder and not stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{_named(option, path)}: not a folder")
    if not folder and stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{_named(option, path)}: a folder, not a file")
    if not os.access(path, os.R_OK | (os.X_OK if folder else 0)):
        raise UsageError(f"{_named(option, path)}: cannot be read (permission denied)")
    return path


def read_text(path, option=None):
    """The UTF-8 text of an input file, or UsageError naming the file (and the line of a bad byte)."""
    check_readable(path, option)
    return read_input_text(path, UsageError, _named(option, path))


def check_writable(path, option):
    """Refuse an output path before a search rather than after it; a symbolic link is written through."""
    if path == "":
        raise UsageError(f"{option} '': an empty path")
    where = f"{option} {path}: cannot write a file there"
    if path.endswith(os.sep):
        raise UsageError(f"{where}: a folder (trailing slash)")
    try:
        target = os.path.realpath(path, strict=False)
        os.stat(os.path.dirname(target) or ".")
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise UsageError(f"{where}: {reason(e)}") from None
    folder = os.path.dirname(target) or "."
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{where}: a folder")
    if not os.path.isdir(folder):
        raise UsageError(f"{where}: no folder {folder}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{where}: the folder {folder} cannot be written")
    if st is not None and not os.access(target, os.W_OK):
        raise UsageError(f"{where}: the file exists and cannot be written")
    if len(os.path.basename(target)) + len(".tmp.XXXXXXXX.") > os.pathconf(folder, "PC_NAME_MAX"):
        raise UsageError(f"{where}: {reason(OSError(errno.ENAMETOOLONG, ''))}")
    return path
