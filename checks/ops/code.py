"""Pieces of the Python statements operations print as (`code()`), and running a call with the env's answers."""

from buddycheck.model.constants import MIGRATETYPE_NAMES
from buddycheck.model.environment import IDLE
from buddycheck.model.gfp import format_gfp
from buddycheck.model.mempolicy_names import GET_FLAG_NAMES, MBIND_FLAG_NAMES, flag_names, mode_names

MPOL_ALIAS = "P"  # printed code names buddycheck.model.mempolicy so
MPOL_IMPORT = f"from buddycheck.model import mempolicy as {MPOL_ALIAS}"
CONSTANTS_ALIAS = "C"  # and buddycheck.model.constants so (migratetypes)
CONSTANTS_IMPORT = f"from buddycheck.model import constants as {CONSTANTS_ALIAS}"


def gfp_code(gfp):
    """A gfp mask as Python over `G` (buddycheck.model.gfp)."""
    name = format_gfp(gfp)
    if name == "0":
        return "0"
    return " | ".join(part if part.startswith("0x") else f"G.{part}" for part in name.split("|"))


def _over_p(names):
    """Names joined as an or over `P`; a hex number stays as it is."""
    return " | ".join(n if n.startswith("0x") else f"{MPOL_ALIAS}.{n}" for n in names) or "0"


def mode_code(mode):
    """A mempolicy mode with its mode flags as Python over `P`, e.g. P.MPOL_BIND | P.MPOL_F_STATIC_NODES."""
    return _over_p(mode_names(mode))


def mbind_flags_code(flags):
    """mbind's MPOL_MF_* flags as Python over `P`."""
    return _over_p(flag_names(flags, MBIND_FLAG_NAMES))


def get_flags_code(flags):
    """get_mempolicy's MPOL_F_* flags as Python over `P`."""
    return _over_p(flag_names(flags, GET_FLAG_NAMES))


def migratetype_code(migratetype):
    """A migratetype as Python over `C`, e.g. C.MIGRATE_CMA."""
    if 0 <= migratetype < len(MIGRATETYPE_NAMES):
        return f"{CONSTANTS_ALIAS}.MIGRATE_{MIGRATETYPE_NAMES[migratetype].upper()}"
    return str(migratetype)


def name_imports(statements):
    """The imports printed statements need for the constants they name (mempolicy, migratetypes)."""
    text = "\n".join(statements)
    return ([MPOL_IMPORT] if f"{MPOL_ALIAS}.MPOL_" in text else []) + (
        [CONSTANTS_IMPORT] if f"{CONSTANTS_ALIAS}.MIGRATE_" in text else [])


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
