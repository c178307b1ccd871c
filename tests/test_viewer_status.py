"""The viewer with the bundled model: each result status in the score panel, "Analyse
anyway", the worklist order and filter, and the exports carrying the status."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pydicom
import pytest

from viewer._testsupport import DATA, make_window, open_and_wait, wait_for

BUNDLED = Path(__file__).parents[1] / "resources" / "models" / "default.safetensors"
CHILD = DATA / "images" / "zhanglab_NORMAL_IM-0115-0001.jpeg"
PNEUMONIA = DATA / "images" / "zhanglab_PNEUMONIA_person1000_bacteria_2931.jpeg"
ADULT = DATA / "images" / "NIH_00027426_000.png"
MR = DATA / "dicom" / "MR_small_RLE.dcm"


@pytest.fixture
def window(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path)
    with qtbot.waitSignal(window.modelLoaded, timeout=120000):
        window.load_model(BUNDLED, "cpu")
    return window


def _shown(qtbot, window, path: Path):
    with qtbot.waitSignal(window.resultShown, timeout=60000):
        assert open_and_wait(qtbot, window, path) == "shown"
    return window.session.result_for(str(path), 0)


def test_not_applicable_then_analyse_anyway(qtbot, window) -> None:
    result = _shown(qtbot, window, MR)
    panel = window.score_panel
    assert result.status == "not-applicable" and result.score is None
    assert panel.state.text().startswith("NOT APPLICABLE")
    assert "NEEDS REVIEW" in panel.flag.text() and "Not flagged" not in panel.flag.text()
    assert "MR image" in panel.status.text() and panel.status.isVisibleTo(panel)
    assert panel.analyse_anyway.isVisibleTo(panel) and not panel.score.isVisibleTo(panel)
    message = window.panes.message_text("reconstruction")
    assert "Analyse anyway" in message and "an MR image" in message
    assert window.browser.row_texts(str(MR))[2] == "REVIEW: n/a"
    with qtbot.waitSignal(window.resultShown, timeout=60000):
        panel.analyse_anyway.click()
    forced = window.panes.result
    assert forced is not None and forced.forced and forced.status == "not-applicable"
    assert panel.score.isVisibleTo(panel) and panel.score.text() == f"{forced.score:.1f}"
    assert "analysed anyway" in panel.state.text()
    assert not panel.analyse_anyway.isVisibleTo(panel)
    assert window.session.catalog.entries[str(MR)].summary.score == pytest.approx(forced.score)


def test_outside_shows_the_score_labelled_uncalibrated(qtbot, window, tmp_path) -> None:
    result = _shown(qtbot, window, ADULT)
    panel = window.score_panel
    assert result.status == "outside" and panel.score.text() == f"{result.score:.1f}"
    assert "OUTSIDE THE MODEL'S TRAINING DATA" in panel.state.text()
    assert "uncalibrated" in panel.state.text() and "NEEDS REVIEW" in panel.flag.text()
    assert panel.guard.text().startswith("OUTSIDE (distance")
    assert not panel.analyse_anyway.isVisibleTo(panel)
    with qtbot.waitSignal(window.exporter.finished, timeout=30000):
        out = window.exporter.export_sr(str(tmp_path / "sr.dcm"), anonymise=True)
    ds = pydicom.dcmread(out)
    texts = {item.ConceptNameCodeSequence[0].CodeMeaning: getattr(item, "TextValue", None)
             for item in ds.ContentSequence}
    assert texts["Result status"].startswith("outside: outside the model's training data")
    content = window.exporter.report_content()  # the report states it too, never "not flagged"
    assert content.status == "outside" and "training data" in content.status_reason
    with qtbot.waitSignal(window.exporter.finished, timeout=30000):
        window.exporter.export_report("pdf", str(tmp_path / "report.pdf"))
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF")


def test_scored_child_radiograph(qtbot, window) -> None:
    result = _shown(qtbot, window, CHILD)
    panel = window.score_panel
    assert result.status == "scored" and not panel.status.isVisibleTo(panel)
    assert panel.state.text() == "Anomaly score (0–100)"
    assert panel.guard.text().startswith("inside (distance")


def test_worklist_puts_needs_review_with_the_flagged_and_filters(qtbot, window, tmp_path) -> None:
    folder = tmp_path / "studies"
    folder.mkdir()
    for src in (CHILD, PNEUMONIA, ADULT, MR):
        shutil.copy(src, folder / src.name)
    window.settings.auto_analyse = False
    window.open_paths([folder])
    assert wait_for(lambda: len(window.session.catalog.entries) == 4)
    with qtbot.waitSignal(window.analysisFinished, timeout=120000):
        window.analyse_all()
    window.actions_by_id["worklist"].setChecked(True)
    order = [Path(k).name for k in window.browser.visible_keys()]
    summary = {Path(k).name: e.summary for k, e in window.session.catalog.entries.items()}
    assert summary[CHILD.name].verdict == "no flag"  # below the operating point
    assert summary[PNEUMONIA.name].verdict == "FLAG"
    # Flagged and needs-review first (by score; the unscored not-applicable last of
    # them), then the scored images without a flag.
    assert order == [PNEUMONIA.name, ADULT.name, MR.name, CHILD.name]
    assert window.browser.row_texts(str(folder / ADULT.name))[2] == "REVIEW: outside"
    window.browser.set_filter("review")
    assert [Path(k).name for k in window.browser.visible_keys()] == [ADULT.name, MR.name]
    window.browser.set_filter("urgent")
    assert len(window.browser.visible_keys()) == 3
    window.browser.set_filter("all")
    assert len(window.browser.visible_keys()) == 4
    out = window.exporter.export_csv(str(tmp_path / "scores.csv"), anonymise=False)
    rows = {Path(r["file"]).name: r for r in csv.DictReader(out.open())}
    assert [Path(r["file"]).name for r in csv.DictReader(out.open())] == order
    assert rows[MR.name]["status"] == "not-applicable" and rows[MR.name]["score"] == ""
    assert "MR image" in rows[MR.name]["status_reason"]
    assert rows[ADULT.name]["verdict"] == "outside training data"
    assert float(rows[ADULT.name]["ood_distance"]) > float(rows[ADULT.name]["ood_threshold"])
    assert rows[CHILD.name]["status"] == "scored"
