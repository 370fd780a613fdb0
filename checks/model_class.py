"""What a model class given by the user (`--model FILE.py:NAME`) must be before anything runs on it: its
constructor takes the machine as Kernel419's does, and every function it defines in a class body
replaces a kernel function (model/kernel.py) with one that takes the same arguments. A misspelt name
would otherwise add a function nobody calls, and a wrong signature would show as a model crash, a
violation, instead of the usage error it is. (A variant's `@V.override` already refuses a name that is
no kernel function; model/machine.py.)
"""

import inspect

from buddycheck.model import Kernel419
from buddycheck.model.kernel import KERNEL_FUNCTIONS


def _where(fn):
    try:
        return f"{inspect.getsourcefile(fn)}:{inspect.getsourcelines(fn)[1]}"
    except (OSError, TypeError):
        return getattr(fn, "__qualname__", repr(fn))


def _accepts(fn, count):
    """Whether fn can be called with `count` positional arguments."""
    try:
        inspect.signature(fn).bind(*range(count))
    except TypeError:
        return False
    except ValueError:  # no signature to read (a builtin): assume it fits
        return True
    return True


def _positional_count(fn):
    return sum(p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
               for p in inspect.signature(fn).parameters.values())


def model_class_problem(model):
    """A sentence saying what is wrong with a model class, or None when it may be run."""
    init = model.__init__
    if init is not Kernel419.__init__ and not (_accepts(init, 2) and _accepts(init, 3)):
        return (f"{model.__name__}.__init__ ({_where(init)}) takes {inspect.signature(init)}, but the engines build "
                f"a model as Kernel419 does: {model.__name__}(topology) or {model.__name__}(topology, env)")
    for cls in model.__mro__:
        if cls is Kernel419 or not issubclass(cls, Kernel419):
            break
        for name, fn in vars(cls).items():
            if not inspect.isfunction(fn) or name.startswith("__") and name.endswith("__"):
                continue
            base = KERNEL_FUNCTIONS.get(name) or getattr(Kernel419, name, None)
            if base is None:
                mangled = name.startswith(f"_{cls.__name__}__")
                if name.startswith("_") and not mangled:
                    continue  # a private helper of the class
                hint = (f" (Python renames a function __x of a class body to _{cls.__name__}__x: define it at module "
                        "level with @Variant.override)" if mangled else "")
                return (f"{cls.__name__}.{name} ({_where(fn)}) overrides nothing: there is no kernel function "
                        f"{name!r}{hint}")
            if inspect.isfunction(base) and fn is not base and not _accepts(fn, _positional_count(base)):
                return (f"{cls.__name__}.{name} ({_where(fn)}) takes {inspect.signature(fn)}, but the kernel "
                        f"function {name} takes {inspect.signature(base)}")
    return None
