"""The command line when things go wrong: an internal error is exit 4 with one message, a file argument
or a --model that cannot be used is exit 2 naming it, an output that cannot be written is exit 2 with
the report printed all the same; none of them a traceback."""

import errno
import json
import os
import subprocess
import sys
import textwrap

import pytest

from buddycheck.checks.cli import build_parser, main
from buddycheck.checks.exit_codes import EXIT_INTERNAL, EXIT_USAGE

ROOT = os.geteuid() == 0  # root reads and writes files whatever their mode
HERE = os.path.dirname(__file__)
TRACE = os.path.join(HERE, "kmem_traces", "follows.txt")


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ---- exit status 4: buddycheck's own failure ---------------------------------------------------------------

def broken(*args, **kwargs):
    return 1 // 0


def test_an_unexpected_exception_is_exit_4_with_where_it_happened_and_how_to_report_it(capsys, monkeypatch):
    monkeypatch.delenv("BUDDYCHECK_TRACEBACK", raising=False)
    monkeypatch.setattr("buddycheck.checks.cli.scenarios.portfolio_scenarios", broken)
    code, out, err = run(capsys, "scenarios")
    assert code == EXIT_INTERNAL
    assert "internal error: ZeroDivisionError: integer division or modulo by zero at checks/cli/scenarios.py:" in err
    assert "in cmd_scenarios" in err and "BUDDYCHECK_TRACEBACK=1" in err
    assert "Traceback" not in err and out == ""


def test_the_traceback_variable_prints_the_whole_traceback(capsys, monkeypatch):
    monkeypatch.setenv("BUDDYCHECK_TRACEBACK", "1")
    monkeypatch.setattr("buddycheck.checks.cli.scenarios.portfolio_scenarios", broken)
    code, _, err = run(capsys, "scenarios")
    assert code == EXIT_INTERNAL
    assert err.startswith("Traceback (most recent call last):") and "in broken" in err
    assert "internal error: ZeroDivisionError" in err


def test_help_lists_every_exit_status():
    text = build_parser().format_help()
    for line in ("0  everything asked for holds", "2  bad usage or input", "3  inconclusive",
                 "4  internal error", "141  standard output was closed"):
        assert line in text


# ---- --model FILE:Class ---------------------------------------------------------------------------------------

MODEL_FILES = {
    "syntax": ("from buddycheck.model import Kernel419\n\ndef broken(:\n", "syntax.py:3: SyntaxError"),
    "raises": ("x = 1\nraise RuntimeError('no config here')\n",
               "raises.py:2: RuntimeError while it is imported: no config here"),
    "exits": ("import sys\n\nsys.exit(0)\n", "exits.py:3: calls sys.exit(0) while it is imported"),
    "typo": ("from buddycheck.model import Kernel419\n\n\nclass M(Kernel419):\n"
             "    def expnad(k, zone, page, low, high, migratetype):\n        pass\n",
             "M.expnad (TMP/typo.py:5) overrides nothing: there is no kernel function 'expnad'"),
    "mangled": ("from buddycheck.model import Kernel419\n\n\nclass M(Kernel419):\n"
                "    def __rmqueue_smallest(k, zone, order, migratetype):\n        pass\n",
                "no kernel function '_M__rmqueue_smallest' (Python renames a function __x of a class body"),
    "variant_typo": ("from buddycheck.model import Kernel419\n\nM = Kernel419.variant('m')\n\n\n@M.override\n"
                     "def expnad(k):\n    pass\n",
                     "variant_typo.py:6: AttributeError while it is imported: m: there is no kernel function 'expnad'"),
    "arity": ("from buddycheck.model import Kernel419\n\n\nclass M(Kernel419):\n"
              "    def expand(k, zone, page):\n        pass\n",
              "M.expand (TMP/arity.py:5) takes (k, zone, page), but the kernel function expand takes (k, zone, "
              "page, low, high, migratetype)"),
    "constructor": ("from buddycheck.model import Kernel419\n\n\nclass M(Kernel419):\n"
                    "    def __init__(self, topology, env, extra):\n        super().__init__(topology, env)\n",
                    "M.__init__ (TMP/constructor.py:5) takes (self, topology, env, extra), but the engines build a "
                    "model as Kernel419 does"),
}


@pytest.mark.parametrize("name", MODEL_FILES)
def test_a_model_file_that_cannot_be_used_is_exit_2_naming_file_and_line(capsys, tmp_path, name):
    source, expected = MODEL_FILES[name]
    (tmp_path / f"{name}.py").write_text(source)
    code, out, err = run(capsys, "explore", "--depth", "1", "--model", f"{tmp_path}/{name}.py:M")
    assert code == EXIT_USAGE, err
    assert f"buddycheck: error: --model {tmp_path}/{name}.py:M: " in err
    assert expected.replace("TMP", str(tmp_path)) in err
    assert "Traceback" not in err and out == ""


def test_a_model_file_that_failed_to_load_leaves_nothing_behind(capsys, tmp_path):
    (tmp_path / "late.py").write_text("raise RuntimeError('first')\n")
    assert run(capsys, "explore", "--depth", "1", "--model", f"{tmp_path}/late.py:M")[0] == EXIT_USAGE
    (tmp_path / "late.py").write_text("from buddycheck.model import Kernel419\n\nM = Kernel419.variant('late')\n")
    code, out, _ = run(capsys, "explore", "--depth", "1", "--model", f"{tmp_path}/late.py:M")
    assert code == 0 and "on model late" in out


def test_a_model_class_with_a_private_helper_runs(capsys, tmp_path):
    (tmp_path / "helper.py").write_text(textwrap.dedent("""\
        from buddycheck.model import Kernel419


        class M(Kernel419):
            NAME = "with-helper"

            def _note(self):
                return None
        """))
    code, out, err = run(capsys, "explore", "--depth", "1", "--model", f"{tmp_path}/helper.py:M")
    assert code == 0, err


# ---- file arguments -------------------------------------------------------------------------------------------

def bad_paths(tmp_path):
    """{kind: (path, the words the message must have)} of paths no command can read."""
    (tmp_path / "latin1.txt").write_bytes(b"# caf\xe9\n")
    (tmp_path / "folder").mkdir()
    (tmp_path / "plain.txt").write_text("x\n")
    os.symlink(tmp_path / "loop_b", tmp_path / "loop_a")
    os.symlink(tmp_path / "loop_a", tmp_path / "loop_b")
    return {
        "not utf-8": (str(tmp_path / "latin1.txt"), "not UTF-8"),
        "trailing slash": (str(tmp_path / "plain.txt") + "/", "not a folder"),
        "folder": (str(tmp_path / "folder"), "a folder, not a file"),
        "symlink loop": (str(tmp_path / "loop_a"), "a loop of symbolic links"),
        "long name": (str(tmp_path / ("n" * 300)), "the name is too long"),
        "missing": (str(tmp_path / "missing.json"), "no such file or directory"),
    }


FILE_ARGUMENTS = {
    "--config": lambda p: ["explore", "--depth", "1", "--config", p],
    "replay": lambda p: ["replay", p],
    "show --after": lambda p: ["show", "--after", p],
    "trace": lambda p: ["trace", p],
    "check --config": lambda p: ["check", "--no-coverage", "--config", p],
    "--buddyinfo": lambda p: ["explore", "--depth", "1", "--preset", "buddy-core", "--buddyinfo", p],
}


@pytest.mark.parametrize("argument", FILE_ARGUMENTS)
def test_every_file_argument_refuses_an_unreadable_file_with_exit_2_naming_it(capsys, tmp_path, argument):
    for kind, (path, words) in bad_paths(tmp_path).items():
        code, out, err = run(capsys, *FILE_ARGUMENTS[argument](path))
        assert code == EXIT_USAGE, (kind, err)
        assert path in err and words in err, (kind, err)
        assert "Traceback" not in err, kind


def test_from_proc_refuses_a_file_a_loop_and_a_missing_folder(capsys, tmp_path):
    paths = bad_paths(tmp_path)
    paths["missing"] = (paths["missing"][0], "no such folder (it should hold proc/zoneinfo")
    for kind in ("trailing slash", "symlink loop", "long name", "missing"):
        path, words = paths[kind]
        code, _, err = run(capsys, "explore", "--depth", "1", "--from-proc", path)
        assert code == EXIT_USAGE and path in err and words in err, (kind, err)
    code, _, err = run(capsys, "explore", "--depth", "1", "--from-proc", paths["not utf-8"][0])
    assert code == EXIT_USAGE and "not a folder" in err


def test_a_model_file_that_is_a_folder_or_a_loop_is_exit_2(capsys, tmp_path):
    paths = bad_paths(tmp_path)
    os.symlink(tmp_path / "loop_c.py", tmp_path / "loop_d.py")
    os.symlink(tmp_path / "loop_d.py", tmp_path / "loop_c.py")
    (tmp_path / "pkg.py").mkdir()
    for path, words in ((paths["folder"][0] + "/", "a folder"), (str(tmp_path / "pkg.py"), "a folder, not a file"),
                        (str(tmp_path / "loop_c.py"), "a loop of symbolic links"),
                        (str(tmp_path / "latin1.py"), "no such file")):
        code, _, err = run(capsys, "explore", "--depth", "1", "--model", f"{path}:M")
        assert code == EXIT_USAGE and path in err and words in err, err
    (tmp_path / "latin1.py").write_bytes(b"x = '\xe9'\n")
    code, _, err = run(capsys, "explore", "--depth", "1", "--model", f"{tmp_path}/latin1.py:M")
    assert code == EXIT_USAGE and "latin1.py:1: SyntaxError" in err


@pytest.mark.skipif(ROOT, reason="root reads any file")
def test_an_unreadable_file_is_exit_2(capsys, tmp_path):
    path = tmp_path / "secret.toml"
    path.write_text("")
    path.chmod(0)
    code, _, err = run(capsys, "explore", "--config", str(path))
    assert code == EXIT_USAGE and f"--config {path}: cannot be read" in err


@pytest.mark.parametrize("argv", [["explore", "--config", ""], ["explore", "--preset", ""], ["check", "--preset", ""],
                                  ["explore", "--junit", ""], ["replay", ""], ["explore", "--model", ""]])
def test_an_empty_value_is_an_error_not_the_default(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == EXIT_USAGE and "'': an empty value" in err and out == ""


# ---- outputs --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["trailing slash", "folder", "no folder", "symlink loop", "long name"])
def test_an_output_that_cannot_be_written_is_refused_before_the_search(capsys, tmp_path, kind):
    (tmp_path / "folder").mkdir()
    os.symlink(tmp_path / "loop_b", tmp_path / "loop_a")
    os.symlink(tmp_path / "loop_a", tmp_path / "loop_b")
    path = {"trailing slash": f"{tmp_path}/out.xml/", "folder": f"{tmp_path}/folder",
            "no folder": f"{tmp_path}/nowhere/out.xml", "symlink loop": f"{tmp_path}/loop_a",
            "long name": f"{tmp_path}/{'n' * 250}.xml"}[kind]
    for option in ("--junit", "--coverage", "--emit-pytest"):
        code, out, err = run(capsys, "explore", "--depth", "1", option, path)
        assert code == EXIT_USAGE and f"{option} {path}: cannot write a file there" in err, err
        assert out == ""  # refused before the search


def test_an_output_is_written_through_a_symbolic_link_with_normal_permissions(capsys, tmp_path):
    target = tmp_path / "results" / "junit.xml"
    target.parent.mkdir()
    link = tmp_path / "junit.xml"
    os.symlink(target, link)
    mask = os.umask(0o022)
    try:
        code, out, _ = run(capsys, "explore", "--depth", "1", "--no-coverage", "--junit", str(link))
    finally:
        os.umask(mask)
    assert code == 0 and "every invariant held" in out
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text().startswith("<?xml") and (target.stat().st_mode & 0o777) == 0o644
    assert sorted(p.name for p in target.parent.iterdir()) == ["junit.xml"]  # no temporary file left


def test_a_full_disk_loses_the_file_not_the_report(capsys, tmp_path, monkeypatch):
    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("buddycheck.checks.atomic_file.os.fsync", no_space)
    junit, lcov = tmp_path / "junit.xml", tmp_path / "cov.lcov"
    code, out, err = run(capsys, "explore", "--depth", "1", "--junit", str(junit), "--coverage", str(lcov))
    assert code == EXIT_USAGE
    assert "every invariant held to depth 1" in out  # the report was printed
    lines = err.strip().splitlines()
    assert len(lines) == 2 and all("No space left on device" in line for line in lines)
    assert lines[0].startswith(f"buddycheck: error: --coverage {lcov}") and f"--junit {junit}" in lines[1]
    assert not junit.exists() and not lcov.exists() and list(tmp_path.iterdir()) == []


def test_a_full_standard_output_is_exit_2_with_one_line():
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "buddycheck.checks.cli", "scenarios"], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    assert proc.returncode == EXIT_USAGE
    assert proc.stderr == "buddycheck: error: cannot write the report to standard output: No space left on device\n"


def test_a_closed_pipe_still_ends_quietly_with_141():
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line: `buddycheck scenarios | true`
    try:
        proc = subprocess.run([sys.executable, "-m", "buddycheck.checks.cli", "scenarios"], stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)
    assert proc.returncode == 141 and proc.stderr == ""


def test_replay_of_a_json_document_that_is_not_utf8_names_the_line(capsys, tmp_path):
    path = tmp_path / "cex.json"
    path.write_bytes(json.dumps({"ops": []}).encode() + b"\n\xff\n")
    code, _, err = run(capsys, "replay", str(path))
    assert code == EXIT_USAGE and f"{path}:2: not UTF-8 text (byte 0xff" in err
