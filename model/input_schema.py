"""The schema of the input files: every key a topology may have, with its type and its range.

The tables of a topology file (or of a scenario's `[topology]`) are pydantic models: unknown keys
are refused, types are strict (true is not 1, 1 is not a string), and every number has the range
the machine can take, with the reason when the bound is the model's and not the kernel's.
`validate_input()` turns pydantic's errors into a ConfigError naming the file, the key path and
the value. Scenario files (checks/scenario_schema.py) are built from the pieces here.

Rules between keys are model validators: a CMA area covers whole MAX_ORDER blocks (a file could
otherwise describe a machine the kernel never builds, whose false alarms would look like bugs).
Rules of the built machine (overlapping zones, CMA pageblocks inside the managed part of their
zone, node ids below max_numnodes) are model/topology.py's `validate_topology`, which every
machine passes, however it was built.
"""

from typing import Annotated, Any, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    StrictBool,
    StrictInt,
    StrictStr,
    Tag,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .constants import MAX_NR_ZONES, ZONE_NAMES
from .errors import ConfigError
from .gfp import __GFP_BITS_MASK as GFP_BITS_MASK
from .topology import Topology as Machine

# the model's own limits: beyond them a machine boots for minutes or a search cannot finish
MAX_ZONE_PAGES = 1 << 20
MAX_PFN = 1 << 40
MAX_NODES = 64  # the model's default MAX_NUMNODES
MAX_NUMNODES = 1024  # the largest MAX_NUMNODES a machine may declare (validate_topology)
NR_CPUS = 1024
INT_MAX = (1 << 31) - 1  # a sysctl that the kernel reads as an int

DEFAULTS = {f.name: f.default for f in Machine.__dataclass_fields__.values()}

# loc parts naming a branch of a union (see `either`): left out of the key path
TAG = "~"


def fail(text, **values):
    """The value is refused: `text` (formatted with `values`) says what is allowed."""
    raise PydanticCustomError("value", "{text}", {"text": text.format(**values)})


def refuse(text, **values):
    """The table is refused: `text` (formatted with `values`) names the key and says why."""
    raise PydanticCustomError("table", "{text}", {"text": text.format(**values)})


class Table(BaseModel):
    """A TOML table: only the keys declared, each of its strict type."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data):
        if not isinstance(data, dict):
            fail("expected a table")
        for key, value in data.items():
            if key not in cls.model_fields:
                refuse("unknown key {key!r} = {value!r} (known: {known})", key=key, value=value,
                       known=", ".join(cls.model_fields))
        return data


def ranged(lo=None, hi=None, why=""):
    """A strict integer in lo..hi (either end open when None), `why` said when it is out of range."""
    def check(value):
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            if hi is None:
                bound = f"must be >= {lo}"
            elif lo is None:
                bound = f"must be <= {hi}"
            else:
                bound = f"must be between {lo} and {hi}"
            fail("{bound}{why}", bound=bound, why=f": {why}" if why else "")
        return value
    return Annotated[StrictInt, AfterValidator(check)]


def list_of(item, what, length=None, unique=False):
    """A list of `item`s (`what` names it in errors), of exactly `length` entries when given."""
    def shape(value):
        if not isinstance(value, list):
            fail("expected {what}", what=what)
        if length is not None and len(value) != length:
            fail("expected {what} of {n} entries", what=what, n=length)
        if unique:
            twice = sorted({v for v in value if isinstance(v, int) and value.count(v) > 1})
            if twice:
                fail("{v} is listed twice", v=twice[0])
        return value
    return Annotated[list[item], BeforeValidator(shape)]


def one_of(names, what="one of"):
    """A string among `names`."""
    def check(value):
        if not isinstance(value, str):
            fail("expected a string ({what} {names})", what=what, names=", ".join(names))
        if value not in names:
            fail("not {what} {names}", what=what, names=", ".join(names))
        return value
    return Annotated[Any, BeforeValidator(check)]


def either(tag_of, **branches):
    """A union whose branch is chosen by `tag_of(value)`, so an error speaks of that branch only."""
    members = tuple(Annotated[t, Tag(TAG + name)] for name, t in branches.items())
    return Annotated[Union[members],  # noqa: UP007 (a tuple of members)
                     Discriminator(lambda v: TAG + tag_of(v))]


NodeId = ranged(0, MAX_NUMNODES - 1, f"node ids are non-negative and below MAX_NUMNODES (at most {MAX_NUMNODES})")
Cpu = ranged(0, NR_CPUS - 1, f"CPU ids are below NR_CPUS = {NR_CPUS}")
Count = ranged(0)


def _zone_type(value):
    if not isinstance(value, str) or value.lower() not in [n.lower() for n in ZONE_NAMES]:
        fail("not a zone type (one of {names})", names=", ".join(ZONE_NAMES))
    return value


ZoneType = Annotated[Any, BeforeValidator(_zone_type)]


class ZoneTable(Table):
    type: ZoneType
    start_pfn: ranged(0, MAX_PFN, "the model's pfns are below 2^40")
    pages: ranged(0, MAX_ZONE_PAGES, "a larger zone cannot be searched; scale it down with --scale")
    managed: ranged(0, MAX_ZONE_PAGES) = None
    watermarks: list_of(Count, "a list of integers", 3) = None
    lowmem_reserve: list_of(Count, "a list of integers", MAX_NR_ZONES) = None
    pcp: list_of(Count, "a list of integers", 2) = None
    cma_pageblocks: list_of(Count, "a list of pageblock indexes", unique=True) = None


class NodeTable(Table):
    id: NodeId
    cpus: list_of(Cpu, "a list of CPU ids", unique=True) = None
    zone: list_of(ZoneTable, "an array of [[node.zone]] tables", None) = None


class PresetTopology(Table):
    """A built-in machine (model/presets.py): only buddy-core takes pages and max_order."""

    preset: StrictStr
    pages: ranged(1, MAX_ZONE_PAGES, "a larger zone cannot be searched") = None
    max_order: StrictInt = None


class TopologyTable(Table):
    name: StrictStr = None
    max_order: StrictInt = None  # ranges that depend on each other: validate_topology
    pageblock_order: StrictInt = None
    min_free_kbytes: ranged(0, INT_MAX) = None
    watermark_scale_factor: StrictInt = None
    lowmem_reserve_ratio: list_of(ranged(0, INT_MAX), "a list of integers", MAX_NR_ZONES) = None
    percpu_pagelist_fraction: ranged(0, INT_MAX) = None
    page_group_by_mobility_disabled: StrictBool = None
    node_reclaim_mode: ranged(0, 7, "a mask of RECLAIM_ZONE (1), RECLAIM_WRITE (2), RECLAIM_UNMAP (4)") = None
    numa: StrictBool = None
    max_numnodes: StrictInt = None
    cpusets_enabled: StrictBool = None
    memcg_kmem_enabled: StrictBool = None
    gfp_allowed_mask: ranged(0, GFP_BITS_MASK, "__GFP_BITS_MASK") = None
    distances: list_of(list_of(ranged(0, 255, "a node distance is a byte"), "a list of integers"),
                       "a list of lists of integers") = None
    configured_zones: list_of(ZoneType, "a list of zone type names", None) = None
    node: list_of(NodeTable, "an array of [[node]] tables") = None

    @model_validator(mode="after")
    def _machine(self):
        if self.node is None:
            refuse("missing [[node]] tables (or a 'preset' key)")
        if len(self.node) > MAX_NODES:
            refuse("node: {n} nodes: at most {max}, the model's default MAX_NUMNODES; a larger machine takes "
                   "minutes to boot and cannot be searched", n=len(self.node), max=MAX_NODES)
        self._cma_areas_whole()
        fraction = self.percpu_pagelist_fraction
        if fraction is not None and 0 < fraction < 8:
            refuse("percpu_pagelist_fraction = {v}: 0 (the default) or at least 8, as the sysctl takes it", v=fraction)
        return self

    def _cma_areas_whole(self):
        # cma_init_reserved_mem() aligns a CMA area to max(MAX_ORDER_NR_PAGES, pageblock_nr_pages): a CMA
        # pageblock beside an ordinary one in a MAX_ORDER block is a machine the kernel never builds
        max_order = DEFAULTS["max_order"] if self.max_order is None else self.max_order
        pageblock_order = DEFAULTS["pageblock_order"] if self.pageblock_order is None else self.pageblock_order
        per_block = 1 << max(0, max_order - 1 - pageblock_order)
        for i, node in enumerate(self.node):
            for j, zone in enumerate(node.zone or ()):
                cma = set(zone.cma_pageblocks or ())
                for pb in sorted(cma):
                    first = pb - pb % per_block
                    missing = sorted(set(range(first, first + per_block)) - cma)
                    if missing:
                        refuse("node[{i}].zone[{j}].cma_pageblocks = {v}: a CMA area covers whole MAX_ORDER blocks "
                               "({n} pageblocks each, as cma_init_reserved_mem aligns it): pageblock {m} is missing",
                               i=i, j=j, v=zone.cma_pageblocks, n=per_block, m=missing[0])


Topology = either(lambda v: "preset" if isinstance(v, dict) and "preset" in v else "nodes",
                  preset=PresetTopology, nodes=TopologyTable)


def _preset_alone(data):
    if isinstance(data, dict) and "preset" in data:
        extra = sorted(set(data) - {"preset", "pages", "max_order"})
        if extra:
            refuse("a preset takes only 'pages' and 'max_order' beside it (got {extra})", extra=extra)
    return data


TopologyInput = Annotated[Topology, BeforeValidator(_preset_alone)]


ERROR_TEXT = {
    "int_type": "expected an integer", "bool_type": "expected true or false", "string_type": "expected a string",
    "list_type": "expected a list", "dict_type": "expected a table", "model_type": "expected a table",
    "literal_error": "expected {expected}", "union_tag_invalid": "expected a table",
}


def _path(loc):
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not part.startswith(TAG):
            out += f".{part}" if out else part
    return out


def error_message(error, where):
    """One pydantic error as '<where>.<key path> = <value>: <what is allowed>' (or '<where>.<table>: <why>')."""
    path = _path(error["loc"])
    at = f"{where}.{path}" if path else where
    kind = error["type"]
    if kind == "missing":
        head, _, key = path.rpartition(".")
        return f"{where}.{head}: missing key {key!r}" if head else f"{where}: missing key {key!r}"
    if kind == "table":
        return f"{at}: {error['msg']}"
    if kind == "value":
        return f"{at} = {error['input']!r}: {error['msg']}"
    text = ERROR_TEXT.get(kind)
    text = text.format(**error.get("ctx", {})) if text else error["msg"]
    return f"{at} = {error['input']!r}: {text}"


# one adapter per schema, built once (building one compiles the validator)
_ADAPTERS = {}


def validate_input(schema, data, where):
    """Check `data` (a parsed TOML document or table) against `schema`; ConfigError naming the first problem."""
    if id(schema) not in _ADAPTERS:
        _ADAPTERS[id(schema)] = (schema, TypeAdapter(schema))
    try:
        _ADAPTERS[id(schema)][1].validate_python(data)
    except ValidationError as e:
        raise ConfigError(error_message(e.errors(include_url=False)[0], where)) from None
    return data
