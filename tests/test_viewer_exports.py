"""Every export writes a file that Pillow or pydicom reads back with the right content."""

from __future__ import annotations

import csv

import numpy as np
import pydicom
import pytest
from PIL import Image

from squid_core.exports import IDENTIFYING_KEYWORDS
from viewer._testsupport import DATA, analysed_window, open_and_wait, wait_for

SOURCE = DATA / "dicom" / "SIIM_CR_chest.dcm"


@pytest.fixture
def window(qtbot, tmp_path):
    return analysed_window(qtbot, tmp_path, SOURCE)


def test_report_png_has_both_images_and_is_white_paper(qtbot, window, tmp_path) -> None:
    with qtbot.waitSignal(window.exporter.finished, timeout=30000):
        out = window.exporter.export_report("png", str(tmp_path / "report.png"))
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape[1] == 1800 and img.shape[0] > 1000
    assert (img[5, 5] == 255).all()  # white page
    dark = (img.sum(axis=2) < 60).mean()
    assert dark > 0.05  # the radiographs are on it
    colourful = (np.ptp(img.astype(int), axis=2) > 60).mean()
    assert colourful > 0.001  # the heatmap is on it


def test_report_pdf(qtbot, window, tmp_path) -> None:
    with qtbot.waitSignal(window.exporter.finished, timeout=30000):
        out = window.exporter.export_report("pdf", str(tmp_path / "report.pdf"))
    data = out.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 20_000
    assert b"/Image" in data and b"/Font" in data  # the radiographs and the text
    title = "SQUID report: score 73.2".encode("utf-16-be")
    assert title in data  # the score, in the document information


def test_csv_lists_every_image_with_scores(qtbot, window, tmp_path) -> None:
    window.open_paths([DATA / "images"])
    assert wait_for(lambda: len(window.session.catalog.entries) > 3)
    out = window.exporter.export_csv(str(tmp_path / "scores.csv"), anonymise=False)
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == len(window.session.catalog.entries)
    siim = next(r for r in rows if r["file"].endswith("SIIM_CR_chest.dcm"))
    assert float(siim["score"]) == pytest.approx(73.25)
    assert siim["flagged"] == "yes" and siim["model_name"] == "scripted"
    assert siim["patient_id"]
    assert any(r["score"] == "" for r in rows)  # unscored images are listed too
    anon = list(csv.DictReader(window.exporter.export_csv(str(tmp_path / "anon.csv"),
                                                 anonymise=True).open()))
    assert all(r["patient_id"] == "" and "/" not in r["file"] for r in anon)


def _written(qtbot, window, export, path, anonymise):
    with qtbot.waitSignal(window.exporter.finished, timeout=30000) as blocker:
        out = export(str(path), anonymise=anonymise)
    assert blocker.args == [str(out)]
    return out


def test_secondary_capture_carries_the_overlay(qtbot, window, tmp_path) -> None:
    out = _written(qtbot, window, window.exporter.export_secondary_capture, tmp_path / "sc.dcm", False)
    ds = pydicom.dcmread(out)
    src = pydicom.dcmread(SOURCE, stop_before_pixels=True)
    assert ds.SOPClassUID == pydicom.uid.SecondaryCaptureImageStorage
    assert ds.PhotometricInterpretation == "RGB"
    pixels = ds.pixel_array
    assert pixels.shape == (src.Rows, src.Columns, 3)
    assert np.array_equal(pixels, window.panes.displayed_overlay())
    assert ds.StudyInstanceUID == src.StudyInstanceUID and ds.PatientID == src.PatientID


def _assert_anonymous(ds: pydicom.Dataset, src: pydicom.Dataset, raw: bytes) -> None:
    # The export's own creation date and time are not the source's: they may stay.
    own = {"ContentDate", "ContentTime"}
    for keyword in IDENTIFYING_KEYWORDS:
        if keyword in own:
            if keyword in ds and keyword in src:
                assert ds.data_element(keyword).value != src.data_element(keyword).value
            continue
        assert keyword not in ds or not str(ds.data_element(keyword).value), keyword
    for keyword in ("PatientName", "PatientID", "StudyInstanceUID"):
        value = str(src.get(keyword, "") or "")
        if value:
            assert value.encode() not in raw, keyword
    assert ds.PatientIdentityRemoved == "YES"


def test_anonymised_secondary_capture(qtbot, window, tmp_path) -> None:
    out = _written(qtbot, window, window.exporter.export_secondary_capture, tmp_path / "sc_anon.dcm",
                   True)
    ds = pydicom.dcmread(out)
    _assert_anonymous(ds, pydicom.dcmread(SOURCE, stop_before_pixels=True), out.read_bytes())
    assert ds.pixel_array.shape[2] == 3


def _content(ds: pydicom.Dataset) -> dict[str, object]:
    out: dict[str, object] = {}
    for item in ds.ContentSequence:
        name = item.ConceptNameCodeSequence[0].CodeMeaning
        if item.ValueType == "NUM":
            out[name] = float(item.MeasuredValueSequence[0].NumericValue)
        elif item.ValueType == "TEXT":
            out[name] = item.TextValue
        elif item.ValueType == "CODE":
            out[name] = item.ConceptCodeSequence[0].CodeMeaning
        elif item.ValueType == "IMAGE":
            out[name] = item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID
    return out


@pytest.mark.parametrize("anonymise", [False, True])
def test_structured_report_carries_the_score(qtbot, window, tmp_path, anonymise) -> None:
    out = _written(qtbot, window, window.exporter.export_sr, tmp_path / "sr.dcm", anonymise)
    ds = pydicom.dcmread(out)
    src = pydicom.dcmread(SOURCE, stop_before_pixels=True)
    assert ds.SOPClassUID == pydicom.uid.ComprehensiveSRStorage
    content = _content(ds)
    assert content["SQUID anomaly score"] == pytest.approx(73.25)
    assert content["Flagged at operating point"] == "Yes"
    assert content["Algorithm Name"] == "scripted"
    assert "balanced" in content["Operating point"]
    assert "not a diagnosis" in content["Comment"]
    if anonymise:
        _assert_anonymous(ds, src, out.read_bytes())
        assert content["Source"] != src.SOPInstanceUID
    else:
        assert content["Source"] == src.SOPInstanceUID
        assert ds.PatientID == src.PatientID


def test_structured_report_of_a_png(qtbot, window, tmp_path) -> None:
    png = DATA / "images" / "NIH_00027426_000.png"
    assert open_and_wait(qtbot, window, png) == "shown"
    assert wait_for(lambda: window.panes.result is not None)
    out = _written(qtbot, window, window.exporter.export_sr, tmp_path / "png_sr.dcm", False)
    ds = pydicom.dcmread(out)
    evidence = pydicom.dcmread(tmp_path / "png_sr_source_sc.dcm")
    assert _content(ds)["Source"] == evidence.SOPInstanceUID
    assert ds.StudyInstanceUID == evidence.StudyInstanceUID


def test_anonymise_dataset_strips_identifying_data_everywhere() -> None:
    from pydicom.dataset import Dataset

    from squid_core.exports import anonymise_dataset

    ds = pydicom.dcmread(SOURCE, stop_before_pixels=True)
    ds.PatientName = "Doe^Jane"
    ds.PatientBirthDate = "19700101"
    ds.InstitutionName = "St Elsewhere"
    ds.OtherPatientIDs = "MRN-123"
    ds.add_new(0x00091001, "LO", "private secret")
    item = Dataset()
    item.ReferringPhysicianName = "Dr^Who"
    ds.ReferencedImageSequence = [item]
    out = anonymise_dataset(ds)
    assert str(ds.PatientName) == "Doe^Jane"  # the input is left alone
    assert out.PatientName == "" and out.PatientBirthDate == ""
    assert "InstitutionName" not in out and "OtherPatientIDs" not in out
    assert 0x00091001 not in out
    assert out.ReferencedImageSequence[0].ReferringPhysicianName == ""
    assert out.StudyInstanceUID != ds.StudyInstanceUID
    assert anonymise_dataset(ds).StudyInstanceUID == out.StudyInstanceUID  # consistent


def test_exports_read_what_the_panes_draw_from_the_session(qtbot, window) -> None:
    """The exports compute the picture from the session's image and the view state as
    values; after a rotation, a flip and a window preset it is exactly what the original
    pane draws (its pyqtgraph item: data, levels, lookup table)."""
    panes = window.panes
    panes.rotate(1)
    panes.flip(True)
    assert panes.apply_preset(0)
    view = window.exporter.screen_view()
    assert view.image is window.session.image and view.result is window.session.result
    item = panes.panes["original"].image
    lo, hi = item.getLevels()
    t = np.clip((np.asarray(item.image, dtype=np.float32) - lo) / max(hi - lo, 1e-12), 0, 1)
    drawn = item.lut[np.round(t * 255).astype(np.intp)]
    assert np.array_equal(view.original(), drawn)
    assert view.state == panes.state and view.state.window is not None
    assert np.array_equal(view.overlay_image(), panes.displayed_overlay())
