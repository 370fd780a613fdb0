"""Pieces of the Python statements operations print as (`code()`), and running a call with the env's answers.

Every integer the kernel has a name for prints by that name, over a module alias the printed code
imports (`name_imports`): gfp masks over `G`, mempolicy modes and flags over `P`, migratetypes, zone
types and the environment's answers (node_reclaim, compaction results) over `C`.
"""

import re

from buddycheck.model import constants
from buddycheck.model.constants import MIGRATETYPE_NAMES, ZONE_NAMES
from buddycheck.model.environment import IDLE
from buddycheck.model.gfp import format_gfp
from buddycheck.model.mempolicy_names import GET_FLAG_NAMES, MBIND_FLAG_NAMES, flag_names, mode_names

from .fields import ADDRESS, ENV, GET_FLAGS, GFP, MBIND_FLAGS, MEMPOLICY_MODE, MIGRATETYPE, field_kind

MPOL_ALIAS = "P"  # printed code names buddycheck.model.mempolicy so
MPOL_IMPORT = f"from buddycheck.model import mempolicy as {MPOL_ALIAS}"
CONSTANTS_ALIAS = "C"  # and buddycheck.model.constants so (migratetypes, zone types, the env's answers)
CONSTANTS_IMPORT = f"from buddycheck.model import constants as {CONSTANTS_ALIAS}"
GFP_ALIAS = "G"  # and buddycheck.model.gfp so
GFP_IMPORT = f"from buddycheck.model import gfp as {GFP_ALIAS}"

# the environment's answers that may be given by their kernel names (scenario files read them so too)
ANSWER_NAMES = {
    "compact_result": [n for n in dir(constants) if n.startswith("COMPACT_") and "PRIO" not in n
                       and isinstance(getattr(constants, n), int)],
    "node_reclaim_result": [n for n in dir(constants) if n.startswith("NODE_RECLAIM_")],
}


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


def zone_type_code(zone_type):
    """A zone type as Python over `C`, e.g. C.ZONE_NORMAL."""
    if 0 <= zone_type < len(ZONE_NAMES):
        return f"{CONSTANTS_ALIAS}.ZONE_{ZONE_NAMES[zone_type].upper()}"
    return str(zone_type)


def answer_code(field, value):
    """An environment answer as Python: over `C` when the kernel names it (the first name of that value)."""
    names = [n for n in ANSWER_NAMES.get(field, ()) if getattr(constants, n) == value]
    return f"{CONSTANTS_ALIAS}.{names[0]}" if names else repr(value)


NAMED_CODE = {MEMPOLICY_MODE: mode_code, MBIND_FLAGS: mbind_flags_code, GET_FLAGS: get_flags_code,
              MIGRATETYPE: migratetype_code, ADDRESS: hex}


def field_code(f, value):
    """An operation field's value as Python, as its annotation describes it (checks/ops/fields.py)."""
    described = field_kind(f)
    if value is None:
        return "None"
    if described.kind == GFP:
        return gfp_code(value)
    if described.kind == ENV:
        return env_code(value)
    if described.named in NAMED_CODE:
        return NAMED_CODE[described.named](value)
    return repr(value)


ALIAS_IMPORTS = ((GFP_ALIAS, GFP_IMPORT), (MPOL_ALIAS, MPOL_IMPORT), (CONSTANTS_ALIAS, CONSTANTS_IMPORT))


def name_imports(statements):
    """The imports printed statements need for the constants they name (gfp, mempolicy, constants)."""
    text = "\n".join(statements)
    return [line for alias, line in ALIAS_IMPORTS if re.search(rf"(?<![\w.]){alias}\.[A-Za-z_]", text)]


def env_code(env):
    if env == IDLE:
        return ""
    fields = ", ".join(f"{n}={answer_code(n, getattr(env, n))}" for n in env.__dataclass_fields__
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
    """Run `call` with the environment's answers set for it alone.

    An operation with the idle environment runs under the machine's own, which is idle except inside a
    concurrent pair given an environment (checks/ops/concurrent.py): both of its operations see that one.
    """
    if env == IDLE:
        return call()
    m.env = env
    try:
        return call()
    finally:
        m.env = IDLE
