"""Opening every kind of file in tests/data: shown, or listed with a reason; never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from viewer._testsupport import DATA, make_window, open_and_wait, wait_for

#: Files that must not open: broken on purpose, or not images.
UNOPENABLE = {"966.dcm", "RG2_JPLY.dcm", "MR_truncated.dcm", "rtplan.dcm", "test-SR.dcm",
              "ExplVR_LitEndNoMeta.dcm"}


@pytest.fixture
def window(qtbot, tmp_path):
    return make_window(qtbot, tmp_path)


def _files() -> list[Path]:
    files = sorted((DATA / "dicom").glob("*.dcm")) + sorted((DATA / "images").glob("*"))
    return [f for f in files if f.is_file()]


def test_every_test_file_opens_or_is_listed_with_a_reason(qtbot, window) -> None:
    files = _files()
    assert len(files) > 20
    problems = []
    for path in files:
        window.close_all()
        outcome = open_and_wait(qtbot, window, path)
        if path.name in UNOPENABLE:
            reasons = [r.reason for r in window.session.catalog.rejected if r.path.name == path.name]
            if outcome != "rejected" or not reasons or not reasons[0].strip():
                problems.append(f"{path.name}: expected a rejection with a reason")
            continue
        if outcome != "shown":
            problems.append(f"{path.name}: not shown ({window.session.catalog.rejected})")
            continue
        image = window.panes.drawn("original")
        if image is None or image.size == 0:
            problems.append(f"{path.name}: nothing drawn")
        if window.panes.readout_at(0, 0) == "":
            problems.append(f"{path.name}: no read-out")
    assert not problems, "\n".join(problems)


def test_broken_dicom_shows_error_and_viewer_goes_on(qtbot, window, tmp_path) -> None:
    broken = DATA / "dicom" / "966.dcm"
    assert open_and_wait(qtbot, window, broken) == "rejected"
    reason = next(r.reason for r in window.session.catalog.rejected if r.path == broken)
    assert "966.dcm" in window.statusBar().currentMessage()
    assert window.browser.rejected.count() == 1
    assert reason in window.browser.rejected.item(0).text()
    assert "Could not open" in window.panes.message_text("original")
    # A truncated copy of a good file: also an error, not a crash.
    good = (DATA / "dicom" / "SIIM_CR_chest.dcm").read_bytes()
    truncated = tmp_path / "truncated.dcm"
    truncated.write_bytes(good[: len(good) // 2])
    assert open_and_wait(qtbot, window, truncated) == "rejected"
    # The viewer still opens good files afterwards.
    assert open_and_wait(qtbot, window, DATA / "images" / "NIH_00027426_000.png") == "shown"


def test_folder_and_dicomdir_fill_the_tree(qtbot, window) -> None:
    window.open_paths([DATA / "dicom" / "dicomdir"])
    assert wait_for(lambda: len(window.session.catalog.entries) > 1)
    model = window.browser.tree.model()
    assert model.rowCount() >= 1
    assert len(window.browser.visible_keys()) == len(window.session.catalog.entries)
    top = model.index(0, 0)
    study = model.index(0, 0, top)
    assert study.isValid() and model.index(0, 0, study).isValid()  # study > series


def test_multiframe_slider(qtbot, window) -> None:
    assert open_and_wait(qtbot, window, DATA / "dicom" / "emri_small_RLE.dcm") == "shown"
    assert window.frames.isVisible()
    first = window.panes.drawn("original").copy()
    window.actions_by_id["next_frame"].trigger()
    assert window.panes.frame == 1 and window.frames.frame == 1
    assert (window.panes.drawn("original") != first).any()


def test_drop_opens_files(qtbot, window) -> None:
    from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(DATA / "images" / "TBX11K_h0001.png"))])
    event = QDropEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    assert wait_for(lambda: window.panes.image is not None)
    assert window.settings.recent_files[0].endswith("TBX11K_h0001.png")
