"""Exports on a full or read-only disk: a clear error, the earlier file intact, no temp file.

The faults are real: a small tmpfs filled up until the kernel answers ENOSPC, and a
tmpfs remounted read-only (EROFS); see the fixtures in ``conftest.py``. Each export
goes through the code a user's click runs (the MainWindow's export methods, which run
the writers in a worker), except the core-only tests of the CSV and DICOM writers.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog, QMessageBox

from squid_core.atomic_file import FileWriteError
from squid_core.exports import save_datasets, score_report, secondary_capture
from squid_core.exports.csv_export import write_scores_csv
from squid_core.exports.dicom_export import dataset_bytes
from squid_core.scoring.operating_point import OperatingPoint
from squid_core.scoring.summary import ResultSummary
from viewer._testsupport import DATA, analysed_window

SOURCE = DATA / "dicom" / "SIIM_CR_chest.dcm"
EARLIER = b"an earlier export of the same name, which must survive\n"
NO_SPACE = "No space left on device"
READ_ONLY = "Read-only file system"


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".tmp", ".part")))


def _earlier(folder: Path, name: str) -> Path:
    target = folder / name
    target.write_bytes(EARLIER)
    return target


def _assert_clear(message: str, target: Path, reason: str) -> None:
    """The message names the file, the reason, and that the earlier file is kept."""
    assert str(target) in message, message
    assert reason in message, message
    assert "earlier file is unchanged" in message, message
    for noise in ("Traceback", "Errno", "OSError", "FileWriteError", "RuntimeError"):
        assert noise not in message, message  # a sentence for the user, not for a developer


# ------------------------------------------------------------------ core writers, no Qt
def test_csv_on_a_full_disk(tiny_filesystem: Path, fill_filesystem) -> None:
    target = _earlier(tiny_filesystem, "scores.csv")
    fill_filesystem(tiny_filesystem)
    rows = [{"file": f"/data/img{i}.png", "score": float(i)} for i in range(50)]
    with pytest.raises(FileWriteError) as info:
        write_scores_csv(target, rows)
    assert info.value.errno == errno.ENOSPC
    _assert_clear(str(info.value), target, NO_SPACE)
    assert "CSV export" in str(info.value)
    assert target.read_bytes() == EARLIER
    assert _leftovers(tiny_filesystem) == []


def test_csv_into_a_read_only_folder(tiny_filesystem: Path, remount_read_only) -> None:
    target = _earlier(tiny_filesystem, "scores.csv")
    remount_read_only(tiny_filesystem)
    with pytest.raises(FileWriteError) as info:
        write_scores_csv(target, [{"file": "a.png", "score": 1.0}])
    assert info.value.errno == errno.EROFS
    _assert_clear(str(info.value), target, READ_ONLY)
    assert target.read_bytes() == EARLIER
    assert _leftovers(tiny_filesystem) == []


def _grey(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((64, 64)).astype(np.float32)


def test_dicom_secondary_capture_on_a_full_disk(tiny_filesystem: Path, fill_filesystem) -> None:
    target = _earlier(tiny_filesystem, "overlay_sc.dcm")
    fill_filesystem(tiny_filesystem)
    with pytest.raises(FileWriteError) as info:
        save_datasets({target: secondary_capture(_grey())}, "DICOM Secondary Capture")
    assert info.value.errno == errno.ENOSPC
    _assert_clear(str(info.value), target, NO_SPACE)
    assert target.read_bytes() == EARLIER
    assert _leftovers(tiny_filesystem) == []


def test_sr_and_its_source_capture_are_written_all_or_none(tiny_filesystem: Path,
                                                            fill_filesystem) -> None:
    """Room for the source Secondary Capture but not for the SR: neither file changes."""
    sc_target = _earlier(tiny_filesystem, "score_sr_source_sc.dcm")
    sr_target = _earlier(tiny_filesystem, "score_sr.dcm")
    evidence = secondary_capture(_grey(), None, description="Source image of a SQUID analysis")
    record = ResultSummary(score=73.2, raw_logit=-2.3,
                           operating_point=OperatingPoint("balanced", 50.0), model_name="m",
                           model_version="1", device="cpu")
    report = score_report(record, evidence)
    page = 4096
    room = -(-len(dataset_bytes(evidence)) // page) * page  # the SC's pages, not one more
    reserve = tiny_filesystem / "reserve.bin"
    reserve.write_bytes(b"\0" * room)
    fill_filesystem(tiny_filesystem)
    reserve.unlink()  # now exactly the SC fits
    with pytest.raises(FileWriteError) as info:
        save_datasets({sc_target: evidence, sr_target: report}, "DICOM SR")
    assert info.value.errno == errno.ENOSPC
    _assert_clear(str(info.value), sr_target, NO_SPACE)
    assert sc_target.read_bytes() == EARLIER  # written to its temp file, never renamed
    assert sr_target.read_bytes() == EARLIER
    assert _leftovers(tiny_filesystem) == []


def _assert_refused(shown: str, target: Path, reason: str, folder: Path) -> None:
    """A clear message, the earlier file byte-identical, no temporary file left."""
    _assert_clear(shown, target, reason)
    assert target.read_bytes() == EARLIER
    assert _leftovers(folder) == []


# ------------------------------------------------------------ the viewer's export paths
@pytest.fixture
def window(qtbot, tmp_path):
    return analysed_window(qtbot, tmp_path, SOURCE)


def _worker_export(kind: str) -> Callable:
    return {
        "png": lambda w, p: w.exporter.export_report("png", p),
        "pdf": lambda w, p: w.exporter.export_report("pdf", p),
        "sc": lambda w, p: w.exporter.export_secondary_capture(p, anonymise=False),
        "sr": lambda w, p: w.exporter.export_sr(p, anonymise=False),
    }[kind]


NAMES = {"png": "report.png", "pdf": "report.pdf", "sc": "overlay_sc.dcm", "sr": "score_sr.dcm"}


def _failed_export(qtbot, window, kind: str, target: Path) -> str:
    """Run the export; return the status bar's message once ``exporter.failed`` came."""
    with qtbot.waitSignal(window.exporter.failed, timeout=30000) as blocker:
        _worker_export(kind)(window, str(target))
    shown = window.statusBar().currentMessage()
    assert shown.startswith("Export failed: ")
    assert blocker.args[0] in shown
    return shown


@pytest.mark.parametrize("kind", sorted(NAMES))
def test_viewer_export_on_a_full_disk(qtbot, window, tiny_filesystem, fill_filesystem,
                                      kind) -> None:
    target = _earlier(tiny_filesystem, NAMES[kind])
    fill_filesystem(tiny_filesystem)
    shown = _failed_export(qtbot, window, kind, target)
    _assert_refused(shown, target, NO_SPACE, tiny_filesystem)


def test_viewer_csv_on_a_full_disk(window, tiny_filesystem, fill_filesystem) -> None:
    target = _earlier(tiny_filesystem, "scores.csv")
    fill_filesystem(tiny_filesystem)
    assert window.exporter.export_csv(str(target), anonymise=False) is None
    shown = window.statusBar().currentMessage()
    _assert_refused(shown, target, NO_SPACE, tiny_filesystem)


@pytest.mark.parametrize("kind", ["png", "sc"])
def test_viewer_export_into_a_read_only_folder(qtbot, window, tiny_filesystem,
                                               remount_read_only, kind) -> None:
    target = _earlier(tiny_filesystem, NAMES[kind])
    remount_read_only(tiny_filesystem)
    shown = _failed_export(qtbot, window, kind, target)
    _assert_refused(shown, target, READ_ONLY, tiny_filesystem)


def test_user_exports_to_a_full_disk_sees_why_and_can_export_elsewhere(
        qtbot, window, tiny_filesystem, fill_filesystem, tmp_path, monkeypatch) -> None:
    """File > Export report (PNG) as a user does it: the save dialog answers a path on a
    full disk; a warning box says which file and why; the next export works."""
    target = _earlier(tiny_filesystem, "report.png")
    fill_filesystem(tiny_filesystem)
    answers = [str(target), str(tmp_path / "elsewhere.png")]
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (answers.pop(0), "PNG (*.png)")))
    # Show the message box as on a desktop (offscreen runs only use the status bar).
    monkeypatch.setenv("QT_QPA_PLATFORM", "desktop")
    with qtbot.waitSignal(window.exporter.failed, timeout=30000):
        window.actions_by_id["export_png"].trigger()
    boxes = [b for b in window.findChildren(QMessageBox) if b.isVisible()]
    assert len(boxes) == 1
    assert boxes[0].windowTitle() == "Export failed"
    assert boxes[0].icon() == QMessageBox.Icon.Warning
    _assert_clear(boxes[0].text(), target, NO_SPACE)
    boxes[0].close()
    assert target.read_bytes() == EARLIER
    assert _leftovers(tiny_filesystem) == []

    # The window still works: the same action, another folder, a good PNG.
    with qtbot.waitSignal(window.exporter.finished, timeout=30000) as done:
        window.actions_by_id["export_png"].trigger()
    written = Path(done.args[0])
    assert written == tmp_path / "elsewhere.png"
    assert written.read_bytes().startswith(b"\x89PNG")
    assert window.panes.result is not None and window.isVisible()
