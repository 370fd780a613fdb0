"""Does a variant's function still compute what a theorem's encoding states?

A theorem is proved for an encoding of 4.19's functions. For a variant (`Kernel419.variant(...)`) that
overrides one of the functions a theorem declares (`Theorem.functions`, `Theorem.not_compared`), the
proof covers the variant only as far as the variant's function agrees with the encoding.
`agreement(model_cls)` answers that by comparison on deterministic inputs (spec/comparisons.py), one
`Agreement` per such theorem: it agrees on N inputs, differs at a first input (decoded into readable
values), or overrides a function the encoding states but no comparison exercises. Agreement on N
inputs is evidence, not a proof; a difference means the theorem says nothing about the variant.
"""

from dataclasses import dataclass

from buddycheck.model.machine import Kernel419

from . import comparisons as C
from .theorems import THEOREMS

AGREES, DIFFERS, NOT_COMPARED = "agrees", "differs", "not compared"

# theorem name -> the comparisons that exercise its functions, each (cases(model_cls, n), default n)
COMPARISONS = {
    "buddy_arithmetic": ((C.find_buddy_cases, 1000), (C.transition_cases, 400)),
    "split_merge_preserve": ((C.transition_cases, 400),),
    "interleave_fairness": ((C.interleave_cases, 60),),
    "zonelist_nodemask": ((C.zonelist_cases, 200),),
    "policy_nodemask_cpuset": ((C.policy_nodemask_cases, 1000), (C.cpuset_gate_cases, None),
                               (C.fast_path_cases, None)),
}


@dataclass(frozen=True)
class Agreement:
    """One theorem judged for one model class.

    functions: the theorem's functions the model overrides. inputs: inputs compared (up to and
    including the first difference). difference: that input decoded, with what the model and the
    encoding gave (None when they agree). status: "agrees", "differs", or "not compared" when an
    overridden function is stated by the encoding but exercised by no comparison.
    """

    theorem: str
    model: str
    functions: tuple
    status: str
    inputs: int = 0
    difference: dict | None = None

    @property
    def agrees(self):
        return self.status == AGREES

    def _who(self):
        return f"{self.model}'s {', '.join(self.functions)}"

    def text(self):
        """For a verdict row after "proved for 4.19's encoding; "."""
        if self.status == AGREES:
            return f"{self._who()} agree{'s' if len(self.functions) == 1 else ''} on {self.inputs} inputs"
        if self.status == NOT_COMPARED:
            return f"{self._who()} not compared with the encoding: not proved for {self.model}"
        d = self.difference
        at = ", ".join(f"{k}={v}" for k, v in d["input"].items())
        return (f"{self._who()} differ{'s' if len(self.functions) == 1 else ''} from the encoding at {at} "
                f"({self.model} gives {d['model']}, the encoding {d['encoding']}): not proved for {self.model}")

    def to_json(self):
        return {"theorem": self.theorem, "model": self.model, "functions": list(self.functions),
                "status": self.status, "inputs": self.inputs, "difference": self.difference, "text": self.text()}


def overridden(model_cls, names):
    """The names among `names` whose attribute on model_cls is not Kernel419's."""
    return tuple(n for n in names if getattr(model_cls, n, None) is not getattr(Kernel419, n, None))


def first_difference(cases):
    """(inputs compared, the first disagreeing Case or None)."""
    count = 0
    for case in cases:
        count += 1
        if not case.agrees:
            return count, case
    return count, None


def agreement(model_cls, n=None, theorems=THEOREMS):
    """One Agreement per theorem some of whose functions model_cls overrides, in catalogue order.

    n: inputs per comparison (None: each comparison's default, about a second in all for one theorem).
    Nothing is run for a class that overrides none of the theorems' functions.
    """
    runs = {}  # a comparison shared by two theorems runs once
    out = []
    for thm in theorems:
        changed = overridden(model_cls, thm.functions + thm.not_compared)
        if not changed:
            continue
        name = getattr(model_cls, "NAME", model_cls.__name__)
        if overridden(model_cls, thm.not_compared):
            out.append(Agreement(thm.name, name, changed, NOT_COMPARED))
            continue
        total, diff = 0, None
        for cases, default in COMPARISONS[thm.name]:
            key = (cases, n or default)
            if key not in runs:
                runs[key] = first_difference(cases(model_cls, n or default))
            count, diff = runs[key]
            total += count
            if diff is not None:
                break
        if diff is None:
            out.append(Agreement(thm.name, name, changed, AGREES, total))
        else:
            out.append(Agreement(thm.name, name, changed, DIFFERS, total,
                                 {"input": diff.values, "model": diff.model, "encoding": diff.encoding}))
    return out
