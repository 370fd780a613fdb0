"""Pieces of the Python statements operations print as (`code()`), and running a call with the env's answers."""

from buddycheck.model.environment import IDLE
from buddycheck.model.gfp import format_gfp


def gfp_code(gfp):
    """A gfp mask as Python over `G` (buddycheck.model.gfp)."""
    name = format_gfp(gfp)
    if name == "0":
        return "0"
    return " | ".join(part if part.startswith("0x") else f"G.{part}" for part in name.split("|"))


def env_code(env):
    if env == IDLE:
        return ""
    fields = ", ".join(f"{n}={getattr(env, n)!r}" for n in env.__dataclass_fields__
                       if getattr(env, n) != getattr(IDLE, n))
    return f"Environment({fields})"


def nodes_code(nodes):
    return "None" if nodes is None else "{" + ", ".join(map(str, sorted(nodes))) + "}"


def with_env(call, env, m="m"):
    """The statement that runs `call` with the environment's answers set for it alone."""
    if env == IDLE:
        return call
    return f"{m}.env = {env_code(env)}; {call}; {m}.env = IDLE"


def run_with_env(m, env, call):
    m.env = env
    try:
        return call()
    finally:
        m.env = IDLE
