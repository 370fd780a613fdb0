"""Reading an input file (a topology, a scenario, a /proc copy, a trace): its UTF-8 text, or one error that
names the file and says why in plain words (and, for a bad byte, the line it is on), never a traceback.

Each caller gives the error class of its layer: ConfigError for what the model reads, the command
line's UsageError for what a command names.
"""

import errno

_REASONS = {
    errno.ENOENT: "no such file or directory",
    errno.ELOOP: "a loop of symbolic links",
    errno.ENAMETOOLONG: "the name is too long",
    errno.ENOTDIR: "a part of the path is not a folder (a file named with a trailing slash?)",
    errno.EACCES: "permission denied",
}


def reason(error):
    """The plain words for an OSError."""
    return _REASONS.get(error.errno) or error.strerror or str(error)


def read_input_text(path, error, label=None, what="a file", hint=""):
    """The file's text; any failure is `error` naming it as `label` (the path by default).

    what: what a directory at the path is not ("a TOML file"); hint: words after "no such file or directory".
    """
    name = str(path) if label is None else label
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError as e:
        raise error(f"{name}: {reason(e)}{hint}") from None
    except IsADirectoryError:
        raise error(f"{name}: is a directory, not {what}") from None
    except OSError as e:  # no permission, a loop of symbolic links, a name too long
        raise error(f"{name}: cannot read it ({reason(e)})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise error(f"{name}:{line}: not UTF-8 text (byte {data[e.start]:#04x} at offset {e.start})") from None
