"""Patient identity never reaches the logs, error messages or anonymised exports.

A DICOM carrying a patient name, ID and birth date is opened in the real main window,
scored by a real (tiny) model, and exported in every kind with anonymisation on. Every
log record (root logger at DEBUG), everything written to stdout/stderr (at the file
descriptor level, so the helper processes that decode images are covered too), every
warning, the status bar and every byte of the exports are then searched for the
identity. A truncated copy of the file must be refused without naming the patient.
"""

from __future__ import annotations

import logging
import re
import warnings
import zlib
from pathlib import Path

import pydicom
import pytest

from viewer._testsupport import DATA, make_window, open_and_wait, tiny_model_file, wait_for

SOURCE = DATA / "dicom" / "SIIM_CR_chest.dcm"
NAME = "PRIVACY^TEST^NAME"
PID = "PID-7734219"
BIRTH = "19610203"
#: What must appear nowhere: the three values and recognisable parts of them.
NEEDLES = (NAME, "PRIVACY", PID, "7734219", BIRTH, "1961-02-03", "03/02/1961")


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return tiny_model_file(tmp_path_factory.mktemp("model") / "tiny.safetensors")


@pytest.fixture
def identified(tmp_path) -> Path:
    """A copy of the SIIM chest CR carrying a patient's identity (neutral file name)."""
    ds = pydicom.dcmread(SOURCE)
    ds.PatientName = NAME
    ds.PatientID = PID
    ds.PatientBirthDate = BIRTH
    folder = tmp_path / "in"
    folder.mkdir()
    path = folder / "study.dcm"
    ds.save_as(path)
    return path


@pytest.fixture
def fresh_readers():
    """Restart the decoding helpers so that they write to this test's captured fds."""
    from squid_core.io.reader_pool import BATCH_READER, READER

    READER.shutdown()
    BATCH_READER.shutdown()
    yield
    READER.shutdown()
    BATCH_READER.shutdown()


def _variants(text: str) -> list[bytes]:
    return [text.encode("utf-8"), text.encode("utf-16-be"), text.encode("utf-16-le")]


def _pdf_streams(data: bytes) -> list[bytes]:
    """The decompressed content of every Flate stream of a PDF (text may hide there)."""
    out = []
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            out.append(zlib.decompress(m.group(1)))
        except zlib.error:
            continue
    return out


def _assert_no_identity_in_bytes(data: bytes, where: str) -> None:
    blobs = [data] + (_pdf_streams(data) if data.startswith(b"%PDF") else [])
    for blob in blobs:
        for needle in NEEDLES:
            for form in _variants(needle):
                assert form not in blob, f"{needle!r} found in {where}"


def _assert_no_identity_in_text(text: str, where: str) -> None:
    for needle in NEEDLES:
        assert needle not in text, f"{needle!r} found in {where}"


def _everything_logged(caplog, capfd, caught) -> str:
    records = "\n".join(f"{r.name} {r.levelname} {r.getMessage()} {r.exc_text or ''}"
                        for r in caplog.records)
    out, err = capfd.readouterr()
    warned = "\n".join(str(w.message) for w in caught)
    return "\n".join((caplog.text, records, out, err, warned))


def _written(qtbot, window, export, path, **kwargs) -> Path:
    with qtbot.waitSignal(window.exporter.finished, timeout=60000) as blocker:
        out = export(path=str(path), **kwargs)
    assert out is not None and blocker.args == [str(out)]
    return Path(out)


def test_analysed_and_exported_study_leaks_no_identity(qtbot, tmp_path, identified, model_path,
                                                       caplog, capfd, fresh_readers) -> None:
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        window = make_window(qtbot, tmp_path)
        window.settings.anonymise_exports = True
        with qtbot.waitSignal(window.modelLoaded, timeout=120000):
            window.load_model(model_path, "cpu")
        assert open_and_wait(qtbot, window, identified) == "shown"
        # The test means something: the viewer did read the identity from the file.
        meta = window.panes.image.meta
        assert meta.patient_name == NAME and meta.patient_id == PID
        window.analyse_current()
        assert wait_for(lambda: window.panes.result is not None, 120)
        with qtbot.waitSignal(window.analysisFinished, timeout=120000):
            window.analyse_all()

        out_dir = tmp_path / "out"
        out_dir.mkdir()
        files = [
            _written(qtbot, window, lambda path: window.exporter.export_report("png", path),
                     out_dir / "report.png"),
            _written(qtbot, window, lambda path: window.exporter.export_report("pdf", path),
                     out_dir / "report.pdf"),
            _written(qtbot, window, window.exporter.export_secondary_capture, out_dir / "sc.dcm",
                     anonymise=None),  # None: the setting (on) decides, as from the menu
            _written(qtbot, window, window.exporter.export_sr, out_dir / "sr.dcm", anonymise=None),
        ]
        csv_out = window.exporter.export_csv(str(out_dir / "scores.csv"), anonymise=None)
        assert csv_out is not None
        files.append(Path(csv_out))
        for text in (repr(window.exporter.report_content()), window.statusBar().currentMessage()):
            _assert_no_identity_in_text(text, "the report content / status bar")
        window.close()

    # Every file written in the export folder (with any side files), byte by byte.
    written = sorted(p for p in out_dir.rglob("*") if p.is_file())
    assert set(files) <= set(written) and len(written) >= 5
    for path in written:
        data = path.read_bytes()
        assert len(data) > 100, path
        _assert_no_identity_in_bytes(data, path.name)
    for path in (p for p in written if p.suffix == ".dcm"):
        ds = pydicom.dcmread(path)
        assert ds.PatientIdentityRemoved == "YES"
        assert str(ds.get("PatientName", "") or "") == ""
        assert str(ds.get("PatientBirthDate", "") or "") == ""

    logged = _everything_logged(caplog, capfd, caught)
    assert caplog.handler.level <= logging.DEBUG
    _assert_no_identity_in_text(logged, "the logs / stderr / warnings")


def _cuts(data: bytes) -> list[int]:
    """Truncation points: inside the patient name value, after the patient module,
    inside the pixel data."""
    at = data.index(NAME.encode())
    birth = data.index(BIRTH.encode())
    return [at + 4, birth + 4, birth + 200, len(data) // 2, len(data) - 1000]


def test_truncated_copy_is_refused_without_naming_the_patient(qtbot, tmp_path, identified,
                                                              caplog, capfd,
                                                              fresh_readers) -> None:
    caplog.set_level(logging.DEBUG)
    data = identified.read_bytes()
    broken = []
    for i, cut in enumerate(_cuts(data)):
        path = tmp_path / "in" / f"broken_{i}.dcm"
        path.write_bytes(data[:cut])
        broken.append(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        window = make_window(qtbot, tmp_path)
        messages: list[str] = []
        window.imageFailed.connect(lambda _k, m: messages.append(m))
        for path in broken:
            result = open_and_wait(qtbot, window, path)
            assert result == "rejected", path.name
            messages.append(window.statusBar().currentMessage())
        reasons = [r.reason for r in window.session.catalog.rejected]
        window.close()
    assert len(reasons) >= len(broken)
    assert all(reasons)  # each refusal says why
    _assert_no_identity_in_text("\n".join(reasons + messages), "an error message")
    _assert_no_identity_in_text(_everything_logged(caplog, capfd, caught),
                                "the logs / stderr / warnings")
