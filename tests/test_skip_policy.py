"""CI's skip rule (tests/skip_policy.py): a skip not on tests/allowed_skips.txt fails a
strict run; allowed skips and expected failures do not; the summary counts them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from skip_policy import ALLOWED_FILE, EXTRA_ENV, STRICT_ENV, load_allowed

TESTS = Path(__file__).resolve().parent

INNER = '''
import pytest

def test_runs():
    pass

def test_needs_shared():
    pytest.skip("../shared/data/cxr_samples is absent")

@pytest.mark.skipif(True, reason="torch.compile on the CPU needs a C++ compiler")
def test_needs_compiler():
    pass

@pytest.mark.xfail(reason="a known failure, not a skip")
def test_known_failure():
    assert False
'''


def _inner_run(tmp_path: Path, strict: bool, *args: str,
               extra: str = "") -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_inner.py").write_text(INNER)
    env = {k: v for k, v in os.environ.items() if k not in (STRICT_ENV, EXTRA_ENV)}
    if extra:
        env[EXTRA_ENV] = extra
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    if strict:
        env[STRICT_ENV] = "1"
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "skip_policy", "-p",
                           "no:cacheprovider", "-q", "test_inner.py", *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_a_strict_run_fails_on_a_skip_that_is_not_allowed(tmp_path) -> None:
    proc = _inner_run(tmp_path, strict=True)
    assert proc.returncode == 1, proc.stdout
    assert "2 skipped, 1 of them not on the allowed list" in proc.stdout
    assert ("NOT ALLOWED (fails the run): test_inner.py::test_needs_compiler: "
            "torch.compile on the CPU needs a C++ compiler") in proc.stdout
    assert "NOT ALLOWED (fails the run): test_inner.py::test_needs_shared" not in proc.stdout
    assert "allowed: /\\.\\./shared/" in proc.stdout  # the list is printed with its reasons
    assert "beside the clone): 1 skipped" in proc.stdout  # and how many skips each allowed


def test_a_strict_run_passes_with_allowed_skips_only(tmp_path) -> None:
    proc = _inner_run(tmp_path, True, "-k", "not compiler")
    assert proc.returncode == 0, proc.stdout
    assert "1 skipped, 0 of them not on the allowed list" in proc.stdout


def test_the_ci_script_can_allow_what_its_machine_cannot_do(tmp_path) -> None:
    proc = _inner_run(tmp_path, True, extra="C\\+\\+ compiler  # probed: no compiler here")
    assert proc.returncode == 0, proc.stdout
    assert "2 skipped, 0 of them not on the allowed list" in proc.stdout
    assert "(probed: no compiler here)" in proc.stdout


def test_without_the_variable_skips_are_counted_not_failed(tmp_path) -> None:
    proc = _inner_run(tmp_path, strict=False)
    assert proc.returncode == 0, proc.stdout
    assert "2 skipped, 1 of them not on the allowed list" in proc.stdout
    assert "NOT ALLOWED: test_inner.py::test_needs_compiler" in proc.stdout


def test_a_real_failure_keeps_its_exit_status(tmp_path) -> None:
    (tmp_path / "test_fails.py").write_text("def test_fails():\n    assert False\n")
    proc = _inner_run(tmp_path, True, "test_fails.py")
    assert proc.returncode == 1 and "1 failed" in proc.stdout


def test_the_allowed_list_gives_a_reason_for_every_rule(tmp_path) -> None:
    rules = load_allowed(ALLOWED_FILE)
    assert rules and all(rule.why for rule in rules)
    assert any(rule.pattern.search("../shared/data/dicom is absent") for rule in rules)
    bad = tmp_path / "allowed.txt"
    bad.write_text("no compiler\n")
    with pytest.raises(ValueError, match="REGEX  # why"):
        load_allowed(bad)
    with pytest.raises(ValueError, match=EXTRA_ENV):
        load_allowed(ALLOWED_FILE, extra="mount")
