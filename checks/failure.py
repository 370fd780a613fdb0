"""How a model failed: an exception (`model_crash`), an operation past its budget (`model_hang`), or an
access outside the memory map (`memory_map`: model/memmap.py's OutOfZoneAccess, KASAN's report).

A `Failure` names the exception and the place in the model's code where it was raised: the
innermost traceback frame that lies in model/ or in a file that defines the model class or one of
its overrides (a user's variant), never in checks/, spec/ or the standard library. For a hang the
exception is the watchdog's ModelHang, raised where the operation was looping when it was stopped.
For a memory_map failure the function is the kernel function that made the access, as the exception
names it, and the detail names the pfn and that function's caller.

Two failures are the same counterexample when `same_as()` says so (defined once here): the same
kind, exception type and function; the line may differ, so shrinking may keep a trace that fails
a few lines away in the same function.
"""

import os
import sys
import traceback
from dataclasses import dataclass

import buddycheck.model as _model_package
from buddycheck.model.errors import OutOfZoneAccess

from .report import CRASH, HANG, MEMORY_MAP, Violation
from .watchdog import ModelHang

MODEL_DIR = os.path.dirname(os.path.abspath(_model_package.__file__))


@dataclass(frozen=True)
class Failure:
    """An exception raised by the model, and the function, file and line of the model's code it came from."""

    kind: str  # CRASH or HANG
    error: str  # the exception type's name
    detail: str  # its text
    function: str | None = None
    file: str | None = None
    line: int | None = None
    before_first_op: bool = False  # raised while booting the machine or running the scenario's setup

    @property
    def where(self):
        if self.function is None:
            return "outside the model's code"
        return f"in {self.function} at {self.file}:{self.line}"

    @property
    def message(self):
        when = " while booting the machine or running the scenario's setup" if self.before_first_op else ""
        if self.kind == HANG:
            return f"{HANG}: an operation {self.detail} (wall clock); it was looping {self.where}{when}"
        if self.kind == MEMORY_MAP:
            return f"{MEMORY_MAP}: {self.detail}; {self.where}{when}"
        return f"{CRASH}: the model raised {self.error} ({self.detail}) {self.where}{when}"

    def same_as(self, other):
        """Whether `other` reproduces this failure: same kind, exception type and function."""
        return other is not None and (self.kind, self.error, self.function) == (
            other.kind, other.error, other.function)

    def as_dict(self):
        return {"kind": self.kind, "error": self.error, "detail": self.detail, "function": self.function,
                "file": self.file, "line": self.line, "before_first_op": self.before_first_op}

    def violation(self, trace):
        return Violation(self.kind, self.message, tuple(trace), failure=self)


def model_files(model_cls):
    """The source files of a model class beyond model/: the modules of its classes and of their overrides."""
    files = set()
    for cls in getattr(model_cls, "__mro__", ()):
        if cls is object:
            continue
        module = sys.modules.get(cls.__module__)
        path = getattr(module, "__file__", None)
        if path:
            files.add(os.path.abspath(path))
        for value in vars(cls).values():
            code = getattr(value, "__code__", None)
            if code is not None:
                files.add(os.path.abspath(code.co_filename))
    return frozenset(files)


def in_model(path, files):
    path = os.path.abspath(path)
    return path in files or path.startswith(MODEL_DIR + os.sep)


def failure_of(exc, model_cls, before_first_op=False):
    """The Failure for an exception the model raised (ModelHang: a hang) while running an operation."""
    files = model_files(model_cls)
    frames = traceback.extract_tb(exc.__traceback__)
    site = next((f for f in reversed(frames) if in_model(f.filename, files)), None)
    kind = HANG if isinstance(exc, ModelHang) else CRASH
    if isinstance(exc, OutOfZoneAccess):
        kind = MEMORY_MAP
        site = next((f for f in reversed(frames) if f.name == exc.function and in_model(f.filename, files)), site)
    if site is None:
        return Failure(kind, type(exc).__name__, str(exc), before_first_op=before_first_op)
    return Failure(kind, type(exc).__name__, str(exc), site.name, os.path.abspath(site.filename), site.lineno,
                   before_first_op)


def failure_from_dict(data):
    """A Failure stored by as_dict() (in a counterexample document), or None."""
    if not isinstance(data, dict):
        return None
    keys = ("kind", "error", "detail", "function", "file", "line")
    return Failure(*(data.get(k) for k in keys), before_first_op=bool(data.get("before_first_op")))
