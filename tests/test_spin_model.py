"""The Promela buddy-core model (checks/bench_models/buddy_core.pml) against the brute-force machine.

`buddycheck bench` compares buddycheck's time with Spin's on this model, which is only fair if both
search the same state space: Spin's stored states and BFS depth must be brute_buddy's (and so the
explorer's, tests/test_brute_force.py) for every configuration below. Spin counts the initial state
as one of its transitions (stored + matched), so its transitions are brute_buddy's plus one.
"""

import pytest
from brute_buddy import BruteBuddy

from buddycheck.checks.spin import SpinRun, booted_header, missing_tools, parse_pan, run_spin

needs_spin = pytest.mark.skipif(missing_tools() is not None,
                                reason=f"the Promela model needs Spin and a C compiler: {missing_tools()}")


@needs_spin
@pytest.mark.parametrize("pages, max_order, orders", [
    (8, 4, (1, 3)),    # whole top-order blocks only
    (16, 4, (1, 3)),
    (13, 4, (1, 3)),   # a partial tail: boot frees 8, 4 and 1 pages; order-1 frees use the tail rule
    (7, 3, (0, 1)),    # order-0 frees and the tail rule below MAX_ORDER-2 = 1
])
def test_spin_stores_the_states_brute_force_reaches(pages, max_order, orders):
    run = run_spin(pages, max_order, orders)
    brute = BruteBuddy(pages, max_order).explore(range(orders[0], orders[1] + 1))
    assert run.complete, run
    assert (run.states_stored, run.depth) == (brute.states, brute.depth)
    assert run.transitions == brute.transitions + 1


def test_booted_header_defines_each_array_from_the_printed_lines():
    printed = "      BOOT_HEAD  8 0  0 0\n      BOOT_NR 0 2\n  BOOT_BLOCK 2 0\n1 process created\n"
    assert booted_header(printed) == ("#define BOOT_HEAD { 8, 0, 0, 0 }\n#define BOOT_NR { 0, 2 }\n"
                                      "#define BOOT_BLOCK { 2, 0 }\n")
    with pytest.raises(RuntimeError, match="no boot state"):
        booted_header("BOOT_HEAD 1\n")


def test_a_search_pan_did_not_finish_is_not_complete():
    run = SpinRun(8, 4, (1, 3))
    parse_pan("pan: out of memory\nState-vector 76 byte, depth reached 3, errors: 0\n  12 states, stored\n", run)
    assert (run.complete, run.stopped_by, run.states_stored, run.depth) == (False, "memory", 12, 3)
    run = SpinRun(8, 4, (1, 3))
    parse_pan("Warning: Search not completed\nState-vector 76 byte, depth reached 3, errors: 1\n", run)
    assert (run.complete, run.stopped_by) == (False, "error")
    run = SpinRun(32, 4, (1, 3))
    parse_pan("pan: reached -DMEMLIM bound\nState-vector 212 byte, depth reached 22, errors: 0\n"
              " 3.4e+07 states, stored\n1.2345678e+08 transitions (= stored+matched)\n"
              " 7861.496\ttotal actual memory usage\n", run)
    assert (run.complete, run.stopped_by, run.states_stored, run.transitions, run.memory_mb) == (
        False, "memory", 34_000_000, 123_456_780, 7861.496)
