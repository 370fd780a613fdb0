"""The registry that turns module-level kernel functions into methods of a model class.

Kernel functions are written at module level with the kernel's own names
(`__rmqueue_smallest`, `expand`, ...) and take the machine `k` as their first
argument. Inside a class body Python would mangle a name that starts with two
underscores, so the functions live outside classes and call each other through
`k.name(...)`: that indirection is what lets a variant replace one function
and inherit the rest.
"""

KERNEL_FUNCTIONS = {}


def kernel_function(fn):
    """Register fn under its own name as a function of the 4.19 model."""
    if fn.__name__ in KERNEL_FUNCTIONS:
        raise RuntimeError(f"kernel function {fn.__name__} registered twice")
    KERNEL_FUNCTIONS[fn.__name__] = fn
    return fn
