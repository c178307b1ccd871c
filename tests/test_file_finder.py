"""One image finder: the same folder yields the same files through every path that looks
for images in folders (the finder itself, the study scan behind the viewer's folder
opening and the wizard, training/calibration data, ``squid score``, the viewer)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from squid_core.io import find_image_files, scan

DATA = Path(__file__).resolve().parent / "data"
MODEL = DATA.parent.parent / "resources" / "models" / "default.safetensors"


@pytest.fixture
def folder(tmp_path: Path) -> tuple[Path, set[str]]:
    """A folder of real test files with every case the finder has a rule for; returns
    it and the relative paths it must find."""
    root = tmp_path / "studies"
    sub = root / "sub"
    sub.mkdir(parents=True)
    shutil.copy(DATA / "images" / "zhanglab_NORMAL_IM-0115-0001.jpeg", root / "normal.jpeg")
    shutil.copy(DATA / "dicom" / "SIIM_CR_chest.dcm", sub / "chest.dcm")
    shutil.copy(DATA / "dicom" / "dx_image.dcm", sub / "NOSUFFIX")  # DICOM without a suffix
    shutil.copy(DATA / "dicom" / "dx_image.dcm", sub / "1.2.826.0.1.3680043.8.498.7")  # UID name
    shutil.copy(DATA / "dicom" / "JPEGBaseline_1s_1f_u_08_08.dcm", sub / "SCAN0001.IMA")
    (root / "broken.png").write_bytes(b"not a png at all")  # named like an image: reported
    (root / "README.md").write_text("# studies\n")  # a document: not a candidate
    (root / "notes.bin").write_bytes(os.urandom(512))  # neither name nor content: skipped
    shutil.copy(DATA / "images" / "NIH_00027426_000.png", root / ".hidden.png")
    (root / ".cache").mkdir()
    shutil.copy(DATA / "images" / "NIH_00027426_000.png", root / ".cache" / "thumb.png")
    (sub / "loop").symlink_to(root, target_is_directory=True)  # a loop back to the top
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copy(DATA / "images" / "zhanglab_PNEUMONIA_person1000_bacteria_2931.jpeg",
                outside / "linked.jpeg")
    (root / "linked").symlink_to(outside, target_is_directory=True)  # followed once
    (root / "again.dcm").symlink_to(sub / "chest.dcm")  # one file, two paths: listed once
    expected = {"normal.jpeg", "broken.png", "again.dcm", "sub/NOSUFFIX",
                "sub/1.2.826.0.1.3680043.8.498.7", "sub/SCAN0001.IMA", "linked/linked.jpeg"}
    return root, expected


def _rel(root: Path, paths) -> set[str]:
    return {Path(p).relative_to(root).as_posix() for p in paths}


def test_finder_rules(folder):
    root, expected = folder
    found = find_image_files([root])
    assert _rel(root, found) == expected
    assert found == sorted(found)
    # Named explicitly, a file is always a candidate (the reader says why it is not an image).
    assert find_image_files([root / "README.md", root]) == sorted([root / "README.md", *found])
    assert find_image_files(root / "missing.png") == [root / "missing.png"]


def test_scan_and_training_see_the_same_files(folder):
    from squid_core.training.data_setup import folder_training_data

    root, expected = folder
    result = scan(root)
    assert _rel(root, [i.path for i in result.instances] + [r.path for r in result.rejected]) \
        == expected
    assert _rel(root, [r.path for r in result.rejected]) == {"broken.png"}
    data = folder_training_data([root], (32, 32))  # also what `squid calibrate` reads
    assert _rel(root, data.train.paths + [r.path for r in data.rejected]) == expected
    assert _rel(root, [r.path for r in data.rejected]) == {"broken.png"}


def test_wizard_data_page_sees_the_same_files(folder):
    from viewer.wizard.data_scan import scan_data

    root, expected = folder
    summary, _ = scan_data([root], None, n_thumbs=0)
    assert _rel(root, summary.normal_files + [p for p, _ in summary.rejected]) == expected


def test_squid_score_sees_the_same_files(folder, tmp_path):
    from squid_core.cli import main

    root, expected = folder
    out = tmp_path / "scores.json"
    assert main(["score", str(root), "--model", str(MODEL), "--device", "cpu", "--quiet",
                 "--json", str(out)]) == 0
    images = json.loads(out.read_text())["images"]
    assert _rel(root, [im["path"] for im in images]) == expected
    unreadable = [im for im in images if im["status"] == "unreadable"]
    assert _rel(root, [im["path"] for im in unreadable]) == {"broken.png"}


def test_the_viewer_opens_the_same_files(qtbot, tmp_path, folder):
    from viewer._testsupport import make_window, wait_for

    root, expected = folder
    window = make_window(qtbot, tmp_path)
    window.open_paths([root])
    assert wait_for(lambda: len(window.session.catalog.entries) + len(window.session.catalog.rejected)
                    == len(expected))
    shown = [e.path for e in window.session.catalog.entries.values()]
    assert _rel(root, shown + [r.path for r in window.session.catalog.rejected]) == expected
