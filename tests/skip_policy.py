"""CI's skip rule: a skip fails the run unless its reason is on the allowed list.

A test that skips on CI's machine proves nothing there, yet the run is green. With
``SQUID_CI_STRICT_SKIPS=1`` (set by ``.ci/run``) every skip's reason is searched for
the patterns of ``tests/allowed_skips.txt`` (and of ``SQUID_CI_EXTRA_ALLOWED_SKIPS``,
where ``.ci/run`` adds what it found its machine cannot do); a skip that matches none
makes the run fail (exit status 1) and is named in the summary. Without the variable the skips are
only counted. The conftest registers this plugin; ``-p skip_policy`` does elsewhere.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ALLOWED_FILE = Path(__file__).with_name("allowed_skips.txt")
STRICT_ENV = "SQUID_CI_STRICT_SKIPS"
#: Rules a CI script adds for what it probed its machine cannot do (same format, one a line).
EXTRA_ENV = "SQUID_CI_EXTRA_ALLOWED_SKIPS"


@dataclass(frozen=True)
class AllowedSkip:
    """One rule of the allowed list: a pattern searched in a skip's reason, and why."""

    pattern: re.Pattern[str]
    why: str


def parse_rules(text: str, source: str) -> list[AllowedSkip]:
    """Rules of ``text``: ``REGEX  # why`` a line; blank and ``#`` lines ignored."""
    rules = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        regex, sep, why = line.partition("  # ")
        if not sep or not why.strip():
            raise ValueError(f"{source}:{number}: write 'REGEX  # why it is allowed'")
        rules.append(AllowedSkip(re.compile(regex.strip()), why.strip()))
    return rules


def load_allowed(path: Path = ALLOWED_FILE, extra: str = "") -> list[AllowedSkip]:
    """The rules of ``path``, then those of ``extra`` (from the environment)."""
    return (parse_rules(path.read_text(encoding="utf-8"), str(path))
            + parse_rules(extra, EXTRA_ENV))


def skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    """The reason a skipped report gives (pytest's "Skipped: " prefix removed)."""
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return text.removeprefix("Skipped: ")


@dataclass(eq=False)
class SkipPolicy:
    """The pytest plugin: collects the skips, fails a strict run on one not allowed."""

    allowed: list[AllowedSkip]
    strict: bool
    skips: list[tuple[str, str]] = field(default_factory=list)

    def _record(self, report: pytest.TestReport | pytest.CollectReport) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):
            self.skips.append((report.nodeid, skip_reason(report)))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._record(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self._record(report)

    def not_allowed(self) -> list[tuple[str, str]]:
        """The skips whose reason matches no rule."""
        return [(node, reason) for node, reason in self.skips
                if not any(rule.pattern.search(reason) for rule in self.allowed)]

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.strict and self.not_allowed() and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.skips and not self.strict:
            return
        write = terminalreporter.write_line
        bad = self.not_allowed()
        terminalreporter.section("skips")
        write(f"{len(self.skips)} skipped, {len(bad)} of them not on the allowed list "
              f"({ALLOWED_FILE.name}; {STRICT_ENV}={'1' if self.strict else 'unset'})")
        for rule in self.allowed:
            n = sum(bool(rule.pattern.search(reason)) for _, reason in self.skips)
            write(f"  allowed: /{rule.pattern.pattern}/  ({rule.why}): {n} skipped")
        for node, reason in bad:
            write(f"  NOT ALLOWED{' (fails the run)' if self.strict else ''}: {node}: {reason}")


def pytest_configure(config: pytest.Config) -> None:
    """Register the policy (once) with the allowed list and the strictness of this run."""
    if not config.pluginmanager.has_plugin("squid-skip-policy"):
        config.pluginmanager.register(
            SkipPolicy(load_allowed(extra=os.environ.get(EXTRA_ENV, "")),
                       os.environ.get(STRICT_ENV) == "1"), "squid-skip-policy")
