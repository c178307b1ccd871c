"""The viewer's session logic (catalog, worklist, CSV rows), without a window."""

from __future__ import annotations

from pathlib import Path

from squid_core.scoring.operating_point import OperatingPoint
from squid_core.scoring.summary import ResultSummary
from squid_core.session.catalog import Catalog, Entry, csv_rows


def _summary(score: float) -> ResultSummary:
    return ResultSummary(score, 0.0, OperatingPoint("balanced", 50.0), "m", "1", "cpu", 0.1)


def test_worklist_sorts_by_score_and_never_drops() -> None:
    cat = Catalog()
    cat.add([Entry(Path(f"/x/{i}.png")) for i in range(5)])
    cat.set_summary("/x/1.png", _summary(10.0))
    cat.set_summary("/x/3.png", _summary(90.0))
    cat.set_summary("/x/4.png", _summary(0.0))
    order = [e.path.name for e in cat.worklist()]
    assert order[:3] == ["3.png", "1.png", "4.png"]
    assert sorted(order) == [f"{i}.png" for i in range(5)]
    rows = csv_rows(cat)
    assert len(rows) == 5 and rows[0]["score"] == 90.0 and "score" not in rows[-1]
