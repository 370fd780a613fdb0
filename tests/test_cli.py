"""The command line: the main job runs and exits 0; bad usage exits 2 without a traceback."""

from buddycheck.checks.cli import main


def test_check_runs_the_tour_and_passes(capsys):
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "verdict: every page came back" in out
    assert "alloc order 4 GFP_KERNEL -> NULL (order >= MAX_ORDER)" in out


def test_unknown_command_is_usage_error(capsys):
    assert main(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert "buddycheck: error:" in err
    assert "Traceback" not in err


def test_no_command_is_usage_error(capsys):
    assert main([]) == 2
