"""What a search engine asks of the thing it searches: the one surface checks/strategies/ use.

A `SearchProblem` is a scenario (checks/scenario.py `Scenario`) or anything built like one, such as
a pair of models run in lockstep. The engine reads nothing else of it:

- `name`, `model` (a class with `NAME`), `depth` and `max_states` (the bounds), `sometimes` (goals
  with `name` and `reached_by(op, result, machine)`), `symmetry` (True, False or "auto") and
  `symmetry_problem()` (why exchanging units would change the alphabet, or None);
- `initial(op_budget, prepare)`: a booted `Machine`, the search's initial state;
- `actions(machine)`: the operations enabled in the machine's state, in a fixed order. A trace is
  stored as the index of each operation in this list, so the order must depend on the state only;
- `op.apply(machine)`: run one operation; a `ModelError` means it is not enabled there.

A `Machine` gives `freeze()` (its state as an immutable, hashable value, equal for equal states)
and `restore(state, current)` (go back to a frozen state; `current` is what `freeze()` would return
now, or None). The symmetry reduction also reads the machine's zones (model/symmetry.py) and an
operation's `relabel(f)` and `code()`; an optional `op_budget` attribute of the problem is the
default wall-clock budget of one operation.
"""

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Machine(Protocol):
    """A model instance whose whole dynamic state freezes to a value and thaws back."""

    def freeze(self) -> Any: ...

    def restore(self, frozen: Any, current: Any = None) -> None: ...


@runtime_checkable
class Operation(Protocol):
    """One step of the alphabet; raises ModelError when it is not enabled in the machine's state."""

    def apply(self, machine: Machine) -> Any: ...


@runtime_checkable
class SearchProblem(Protocol):
    """A state space to search: its bounds, its initial machine and the operations of each state."""

    name: str
    model: type
    depth: int
    max_states: int
    sometimes: tuple
    symmetry: Any  # True, False or "auto"

    def symmetry_problem(self) -> str | None: ...

    def initial(self, op_budget: float | None = None, prepare: Any = None) -> Machine: ...

    def actions(self, machine: Machine) -> list: ...
