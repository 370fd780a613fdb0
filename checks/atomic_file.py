"""Every file buddycheck writes (pytest files, JUnit XML, LCOV, pictures) is written here: whole or not at
all, with the permissions open() would give it, through a symbolic link rather than over it."""

import os
import tempfile
from pathlib import Path

from .trace_error import TraceError


def write_atomic(path, text):
    """Write text (or bytes, e.g. an image) to path through a temporary file in the same directory and a rename.

    Either the whole text is at `path` afterwards or the file is as it was; an OSError (no such
    directory, no space, no permission) becomes a TraceError naming the path. A symbolic link at
    `path` is written through: its target gets the text and the link stays.
    """
    given = Path(path)
    path = Path(os.path.realpath(given))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, 0o666 & ~_umask())  # as open() would have made it, not mkstemp's owner-only mode
        binary = isinstance(text, bytes)
        with os.fdopen(fd, "wb" if binary else "w", encoding=None if binary else "utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as e:
        raise TraceError(f"cannot write {given}: {e.strerror or e}") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return given


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
