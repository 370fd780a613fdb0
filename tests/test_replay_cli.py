"""`buddycheck replay FILE.json`: an exported counterexample replayed on its model, or on another one.

Exit 1 at the step the invariant fails (the step and the message printed), 0 once it no longer
does, 3 when the trace no longer fits the model, 2 for a file that cannot be used (naming file, key
and value).
"""

import json
import os

import planted_failures
import planted_models

from buddycheck.checks.cli import main

MERGE_SHORT = f"{os.path.abspath(planted_models.__file__)}:MergeShort"
MERGE_MESSAGE = ("free blocks at pfn 0 (Unmovable list) and pfn 4 (Unmovable list) of order 2 on node 0 zone "
                 "Normal are buddies and both free")


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def exported(capsys, tmp_path, *argv):
    """The JSON report of `explore --json` with argv, written to a file."""
    code, out, _ = run(capsys, "explore", "--json", *argv)
    assert code == 1
    path = tmp_path / "report.json"
    path.write_text(out)
    return path


def test_the_bug_still_there_exits_1_at_its_step(capsys, tmp_path):
    report = exported(capsys, tmp_path, "--preset", "buddy-core", "--model", MERGE_SHORT)
    code, out, _ = run(capsys, "replay", str(report))
    assert code == 1
    assert out.splitlines() == [
        "replaying 2 operation(s) of maximal_coalescing on model merge-short (scenario buddy-core)",
        "  step 1: m.alloc(G.GFP_KERNEL, 1, cpu=0) -> alloc order 1 GFP_KERNEL -> pfn 0 (node 0 Normal)",
        "  step 2: m.free(0, cpu=0) -> free pfn 0 order 1",
        f"VIOLATION of maximal_coalescing at step 2: {MERGE_MESSAGE}",
    ]
    # one document alone (what trace_to_json writes) replays the same
    single = tmp_path / "one.json"
    single.write_text(json.dumps(json.loads(report.read_text())["violations"][0]))
    assert run(capsys, "replay", str(single))[0] == 1


def test_the_bug_fixed_exits_0(capsys, tmp_path):
    report = exported(capsys, tmp_path, "--preset", "buddy-core", "--model", MERGE_SHORT)
    code, out, _ = run(capsys, "replay", str(report), "--model", "buddycheck.model:Kernel419")
    assert code == 0
    assert out.splitlines()[-1] == ("  maximal_coalescing holds after every step: "
                                    "the counterexample no longer reproduces")


def test_a_crash_is_replayed_too(capsys, tmp_path):
    report = exported(capsys, tmp_path, "--preset", "buddy-core", "--pages", "6", "--max-order", "3", "--orders",
                      "0-0", "--model", f"{os.path.abspath(planted_failures.__file__)}:ExpandDivides")
    code, out, _ = run(capsys, "replay", str(report))
    assert code == 1
    assert out.splitlines()[-1].startswith("VIOLATION of model_crash at step 1: model_crash: the model raised "
                                           "ZeroDivisionError")
    assert run(capsys, "replay", str(report), "--model", "buddycheck.model:Kernel419")[0] == 0


def test_a_trace_that_no_longer_fits_is_inconclusive(capsys, tmp_path):
    report = exported(capsys, tmp_path, "--preset", "buddy-core", "--model", MERGE_SHORT)
    doc = json.loads(report.read_text())["violations"][0]
    doc["ops"] = doc["ops"][::-1]  # the free before the allocation
    path = tmp_path / "reversed.json"
    path.write_text(json.dumps(doc))
    code, out, _ = run(capsys, "replay", str(path))
    assert code == 3
    assert out.splitlines()[-1].startswith("INCONCLUSIVE: step 1 (m.free(0, cpu=0)) is not enabled")


def test_a_bad_file_exits_2_naming_file_key_and_value(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"invariant": "no_overlap", "ops": 3}))
    code, out, err = run(capsys, "replay", str(bad))
    assert (code, out) == (2, "")
    assert f"{bad}: counterexample: 'ops' = 3: expected a list of operations" in err
    bad.write_text(json.dumps({"invariant": "no_such_rule", "ops": [], "scenario": "buddy-core",
                               "model_ref": "buddycheck.model:Kernel419"}))
    code, _, err = run(capsys, "replay", str(bad))
    assert code == 2 and f"{bad}: 'invariant' = 'no_such_rule': unknown invariant" in err
    bad.write_text(json.dumps({"invariant": "no_overlap", "ops": [], "scenario": "buddy-core"}))
    code, _, err = run(capsys, "replay", str(bad))
    assert code == 2 and f"{bad}: 'model_ref' = null" in err
    code, _, err = run(capsys, "replay", str(tmp_path / "missing.json"))
    assert code == 2 and "missing.json: no such file or directory" in err and "Traceback" not in err
