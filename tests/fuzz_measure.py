"""Count how the command line answers generated bad input (tests/fuzz_inputs.py): clean errors, tracebacks,
wrong statuses.

    python tests/fuzz_measure.py [--examples N] [--kind scenario|topology|trace|command|replay] [--show K]

prints, per kind of input, the inputs tried and the count of each outcome, then up to K examples of each
outcome other than a clean error. tests/test_fuzz_cli.py's slow test runs `measure` and asserts that every
input got a clean error.
"""

import argparse
import collections
import sys
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings

sys.path.insert(0, str(Path(__file__).parent))

from fuzz_inputs import KINDS, OUTCOMES, outcome  # noqa: E402


def measure(kind, examples):
    """{outcome: count} and {outcome: [(argv, status, stderr tail)]} over `examples` generated cases of `kind`.

    Derandomized: the same cases on every run, so counts before and after a change compare.
    """
    counts = collections.Counter()
    samples = collections.defaultdict(list)

    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), derandomize=True)
    @given(KINDS[kind]())
    def sample(case):
        with tempfile.TemporaryDirectory() as folder:
            kind_of, status, stderr = outcome(case, folder)
        counts[kind_of] += 1
        if kind_of != "clean":
            samples[kind_of].append((case.argv, status, stderr.strip().splitlines()[-3:]))

    sample()
    return counts, samples


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=300, help="cases per kind (default 300)")
    p.add_argument("--kind", action="append", choices=sorted(KINDS), help="only this kind (repeatable)")
    p.add_argument("--show", type=int, default=3, help="examples shown of each bad outcome")
    args = p.parse_args(argv)
    total = collections.Counter()
    for kind in args.kind or list(KINDS):
        counts, samples = measure(kind, args.examples)
        total.update(counts)
        print(f"{kind:9} tried {sum(counts.values()):5}: " + ", ".join(f"{o} {counts[o]}" for o in OUTCOMES))
        for o in OUTCOMES[1:]:
            for argv_, status, tail in samples[o][:args.show]:
                print(f"    {o}: status {status}: {' '.join(argv_)}\n        " + "\n        ".join(tail))
    print(f"{'all':9} tried {sum(total.values()):5}: " + ", ".join(f"{o} {total[o]}" for o in OUTCOMES))


if __name__ == "__main__":
    main()
