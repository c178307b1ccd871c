"""The wizard's pure logic: data warnings, labelled folders, operating-point choice."""

from __future__ import annotations

from pathlib import Path

import pytest

from viewer.wizard.save_page import operating_point_updates
from viewer.wizard.settings_page import format_duration
from viewer.wizard.state import DataSummary, WizardState, labelled_subfolders
from viewer.wizard.validate_page import choose_operating_point


def _files(n: int) -> list[Path]:
    return [Path(f"/x/{i}.png") for i in range(n)]


def test_warnings_scale_with_the_amount_of_data() -> None:
    assert "No readable normal images" in DataSummary().warnings(False)[0]
    few = DataSummary(normal_files=_files(5))
    assert "at least 8 are needed" in few.warnings(False)[0] and not few.can_train()
    some = DataSummary(normal_files=_files(30), rejected=[(Path("/x/a.txt"), "not an image")])
    text = " ".join(some.warnings(False))
    assert "Only 30 normal images" in text and "synthetic anomalies" in text
    assert "1 files cannot be read" in text and some.can_train()
    plenty = DataSummary(normal_files=_files(500), val_normal_files=_files(5),
                         val_abnormal_files=_files(5))
    assert plenty.warnings(True) == []
    assert "needs both" in DataSummary(normal_files=_files(500)).warnings(True)[0]


def test_labelled_subfolders_are_found_case_insensitively(tmp_path: Path) -> None:
    (tmp_path / "NORMAL").mkdir()
    (tmp_path / "Abnormal").mkdir()
    (tmp_path / "other").mkdir()
    assert labelled_subfolders(tmp_path) == (tmp_path / "NORMAL", tmp_path / "Abnormal")
    assert labelled_subfolders(tmp_path / "missing") == (None, None)


def test_operating_point_by_target_specificity_and_sensitivity() -> None:
    scores = [10, 20, 30, 40, 60, 70, 80, 90]
    labels = [0, 0, 0, 0, 1, 1, 1, 1]
    spec = choose_operating_point(scores, labels, "specificity", 0.75, "validation")
    assert spec["name"] == "specificity 0.75" and spec["specificity"] >= 0.75
    # four normals cannot show 0.75 with a margin: the point flags none of them
    assert 40 < spec["threshold"] <= 60 and "95 % bootstrap interval" in spec["rule"]
    many = list(range(200))  # 200 normals scored 0..199: the margin is a few normals
    with_margin = choose_operating_point(many + [500], [0] * 200 + [1], "specificity", 0.75,
                                         "validation")
    assert 0.75 < with_margin["specificity"] < 0.90 and with_margin["threshold"] > 150
    sens = choose_operating_point(scores, labels, "sensitivity", 1.0, "validation")
    assert sens["sensitivity"] == 1.0 and 40 < sens["threshold"] <= 60
    state = WizardState(operating_point=spec, validation={"operating_points": [
        {"name": "balanced", "threshold": 50.0}, {"name": "specificity 0.75", "threshold": 1.0}]})
    updates = operating_point_updates(state)
    assert [p["name"] for p in updates["operating_points"]] == ["balanced", "specificity 0.75"]
    assert updates["operating_points"][-1] is spec
    assert updates["default_operating_point"] == "specificity 0.75"
    assert operating_point_updates(WizardState()) == {}


@pytest.mark.parametrize(("seconds", "text"), [(5, "5 s"), (75, "1 min 15 s"),
                                               (7300, "2 h 01 min")])
def test_durations_read_naturally(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_training_threads_leave_a_core_to_the_viewer() -> None:
    from viewer.wizard.settings_page import default_training_threads

    assert [default_training_threads(n) for n in (1, 2, 8)] == [1, 1, 7]
