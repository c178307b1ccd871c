"""The study scan: tree, DICOMDIR, rejected files, headers only, ordering."""

from __future__ import annotations

import shutil

import pydicom
import pytest
from test_io_helpers import DICOM, IMAGES

from squid_core.io import InstanceRef, PatientNode, ScanResult, dicom_io, scan


@pytest.fixture()
def study_folder(tmp_path):
    """A folder with DICOM images, raster images, non-images, junk and hidden files."""
    root = tmp_path / "studies"
    (root / "dicom" / "deep").mkdir(parents=True)
    (root / "pngs").mkdir()
    (root / ".hidden").mkdir()
    for name in ("SIIM_CR_chest.dcm", "Fake_MONOHR1.dcm", "MR_small_RLE.dcm", "rtplan.dcm"):
        shutil.copy(DICOM / name, root / "dicom" / name)
    shutil.copy(DICOM / "emri_small_RLE.dcm", root / "dicom" / "deep" / "no_extension")
    for name in ("NIH_00027426_000.png", "zhanglab_NORMAL_IM-0115-0001.jpeg"):
        shutil.copy(IMAGES / name, root / "pngs" / name)
    shutil.copy(IMAGES / "TBX11K_h0001.png", root / ".hidden" / "x.png")
    (root / ".DS_Store").write_bytes(b"junk")
    (root / "notes.txt").write_text("not an image")
    (root / "empty.dcm").write_bytes(b"")
    return root


def test_scan_groups_and_rejects(study_folder):
    result = scan(study_folder)
    assert isinstance(result, ScanResult) and not result.cancelled
    names = sorted(i.path.name for i in result.instances)
    assert names == sorted(
        [
            "SIIM_CR_chest.dcm",
            "Fake_MONOHR1.dcm",
            "MR_small_RLE.dcm",
            "no_extension",
            "NIH_00027426_000.png",
            "zhanglab_NORMAL_IM-0115-0001.jpeg",
        ]
    )
    rejected = {r.path.name: r.reason for r in result.rejected}
    assert rejected["rtplan.dcm"] == "not an image: RT Plan"
    # A document inside a folder is not a candidate (find_image_files); named explicitly
    # it is, and the reason is given.
    assert "notes.txt" not in rejected
    assert "not an image" in scan(study_folder / "notes.txt").rejected[0].reason
    assert "empty" in rejected["empty.dcm"]
    assert ".DS_Store" not in rejected and "x.png" not in names
    for patient in result.patients:
        assert isinstance(patient, PatientNode)
        for study in patient.studies:
            for series in study.series:
                assert series.instances
    folder_patient = [p for p in result.patients if p.patient_name == "pngs"]
    assert len(folder_patient) == 1 and len(folder_patient[0].studies[0].series[0].instances) == 2
    emri = next(i for i in result.instances if i.path.name == "no_extension")
    assert emri.frames == 10 and emri.meta.modality == "MR"


def test_scan_is_deterministic(study_folder):
    a = scan(study_folder)
    b = scan([study_folder])
    assert [i.path for i in a.instances] == [i.path for i in b.instances]
    assert [r.path for r in a.rejected] == [r.path for r in b.rejected]


def test_scan_orders_by_instance_number(tmp_path):
    for number in (3, 1, 2):
        ds = pydicom.dcmread(DICOM / "MR_small_RLE.dcm")
        ds.InstanceNumber = number
        ds.SOPInstanceUID = f"{ds.SOPInstanceUID}.{number}"
        ds.save_as(tmp_path / f"z{4 - number}.dcm")
    series = scan(tmp_path).patients[0].studies[0].series[0]
    assert [i.meta.instance_number for i in series.instances] == [1, 2, 3]


def test_scan_reads_headers_only(study_folder, monkeypatch):
    def no_pixels(*args, **kwargs):
        raise AssertionError("the scan must not decode pixel data")

    monkeypatch.setattr(dicom_io, "decode_pixels", no_pixels)
    monkeypatch.setattr("pydicom.pixels.pixel_array", no_pixels)
    opened = []
    real = pydicom.dcmread

    def spy(*args, **kwargs):
        opened.append(kwargs.get("stop_before_pixels"))
        return real(*args, **kwargs)

    monkeypatch.setattr(pydicom, "dcmread", spy)
    result = scan(study_folder)
    assert len(result.instances) == 6
    assert opened and all(opened)


def test_dicomdir(tmp_path):
    shutil.copytree(DICOM / "dicomdir", tmp_path / "media")
    result = scan(tmp_path / "media" / "DICOMDIR")
    assert len(result.instances) > 0
    assert not any(r.path.name == "DICOMDIR" for r in result.rejected)
    via_folder = scan(tmp_path / "media")
    assert {i.path for i in via_folder.instances} == {i.path for i in result.instances}
    for inst in result.instances:
        assert isinstance(inst, InstanceRef) and inst.meta.is_dicom


def test_progress_and_cancel(study_folder):
    calls = []
    scan(study_folder, progress=lambda done, total, path: calls.append((done, total)))
    assert calls and calls[-1][0] == calls[-1][1]
    result = scan(study_folder, progress=lambda done, total, path: done < 2)
    assert result.cancelled and len(result.instances) + len(result.rejected) <= 2


def test_missing_path_and_oversized_header(tmp_path):
    ds = pydicom.dcmread(DICOM / "MR_small_RLE.dcm")
    ds.Rows, ds.Columns, ds.NumberOfFrames = 65535, 65535, 1000
    ds.save_as(tmp_path / "huge.dcm")
    result = scan([tmp_path / "huge.dcm", tmp_path / "missing.dcm"])
    reasons = {r.path.name: r.reason for r in result.rejected}
    assert "image too large" in reasons["huge.dcm"]
    assert reasons["missing.dcm"] == "file not found"


def test_scan_rejects_header_cut_off(tmp_path):
    data = (DICOM / "SIIM_CR_chest.dcm").read_bytes()
    (tmp_path / "cut.dcm").write_bytes(data[:700])
    result = scan(tmp_path)
    assert not result.instances
    assert len(result.rejected) == 1 and "truncated" in result.rejected[0].reason
