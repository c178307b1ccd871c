"""Splits grouped by patient: the patient of a ZhangLab name or DICOM file, grouped
splits in squid_core, `squid train --val-count` data and scripts/make_zhanglab_split.py."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pydicom
from hypothesis import given, settings
from hypothesis import strategies as st

from squid_core.training.data_setup import folder_training_data
from squid_core.training.patients import dicom_patient_id, patient_from_name, patient_key
from squid_core.training.splits import (
    merge_groups,
    split_validation,
    stable_order,
    take_groups,
)

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
JPEG = DATA / "zhanglab_val" / "normal" / "IM-0358-0001.jpeg"


def test_patient_from_zhanglab_names():
    assert patient_from_name("IM-0115-0001.jpeg") == "IM-0115"
    assert patient_from_name("NORMAL/IM-0429-0001-0002.jpeg") == "IM-0429"
    assert patient_from_name("NORMAL2-IM-1427-0001.jpeg") == "NORMAL2-IM-1427"
    assert patient_from_name("person1000_bacteria_2931.jpeg") == "person1000"
    assert patient_from_name("person1000_virus_1681.jpeg") == "person1000"
    assert patient_from_name("person447_virus_921_1.jpeg") == "person447"
    assert patient_from_name("scan_0001.png") is None
    assert patient_from_name("IM-0115.jpeg") is None  # no image number: not the scheme
    assert patient_key("sub/scan_0001.png") == "file:sub/scan_0001.png"
    assert patient_key("IM-0115-0001.jpeg", "PAT 7 ") == "id:PAT 7"
    assert patient_key("IM-0115-0001.jpeg", "  ") == "zhanglab:IM-0115"


def test_dicom_patient_id_reads_the_header_only_of_dicom_files(tmp_path):
    assert dicom_patient_id(DATA / "dicom" / "dx_image.dcm") == "123456"
    assert dicom_patient_id(JPEG) is None
    junk = tmp_path / "no_suffix"
    junk.write_bytes(b"not dicom at all")
    assert dicom_patient_id(junk) is None
    assert dicom_patient_id(tmp_path / "missing.dcm") is None


@settings(max_examples=200, deadline=None)
@given(
    groups=st.lists(st.integers(0, 12), min_size=2, max_size=60),
    fraction=st.floats(0.0, 0.95),
    seed=st.integers(0, 5),
)
def test_grouped_split_never_puts_one_patient_on_both_sides(groups, fraction, seed):
    items = [f"img_{i:03d}.png" for i in range(len(groups))]
    patient = dict(zip(items, (f"p{g}" for g in groups), strict=True))
    train, val = split_validation(items, fraction=fraction, seed=seed,
                                  group_of=patient.__getitem__)
    assert sorted(train + val) == sorted(items) and train
    assert not {patient[i] for i in train} & {patient[i] for i in val}
    assert len(val) <= round(fraction * len(items))
    # deterministic and independent of the input order
    again = split_validation(items[::-1], fraction=fraction, seed=seed,
                             group_of=patient.__getitem__)
    assert again == (train, val)


def test_ungrouped_split_is_unchanged_and_groups_fill_the_count_when_they_can():
    items = [f"f{i}" for i in range(40)]
    _, val = split_validation(items, count=10, seed=2)
    assert len(val) == 10
    sizes = {f"f{i}": f"g{i // 4}" if i < 20 else f"s{i}" for i in range(40)}  # 5 x 4 + 20 x 1
    taken, rest = take_groups(items, 10, seed=2, group_of=sizes.__getitem__)
    assert len(taken) == 10 and not {sizes[i] for i in taken} & {sizes[i] for i in rest}


def test_merge_groups_joins_patients_through_shared_files():
    groups = merge_groups({"a": ["p1", "h1"], "b": ["p2", "h1"], "c": ["p2"], "d": ["p3"]})
    assert groups["a"] == groups["b"] == groups["c"] != groups["d"]


def _variant(src: Path, dst: Path, k: int) -> None:
    img = cv2.imread(str(src), cv2.IMREAD_GRAYSCALE)
    img[0, k % img.shape[1]] ^= 0x40  # distinct bytes per file, same chest
    cv2.imwrite(str(dst), img)


def _fake_zhanglab(root: Path, normal_patients: int, pneumonia_patients: int) -> Path:
    """A ZhangLab-like train folder: 1-3 images per patient, real chest pixels."""
    src = root / "train"
    (src / "NORMAL").mkdir(parents=True)
    (src / "PNEUMONIA").mkdir()
    k = 0
    for p in range(normal_patients):
        for i in range(1 + p % 3):
            name = f"IM-{p:04d}-0001-{i + 1:04d}.jpeg" if p % 3 else f"IM-{p:04d}-0001.jpeg"
            _variant(JPEG, src / "NORMAL" / name, k)
            k += 1
    for p in range(pneumonia_patients):
        for i in range(1 + p % 3):
            kind = "virus" if i % 2 else "bacteria"
            _variant(JPEG, src / "PNEUMONIA" / f"person{p}_{kind}_{k}.jpeg", k)
            k += 1
    return src


def test_val_count_holds_out_whole_patients(tmp_path):
    src = _fake_zhanglab(tmp_path, 12, 0)
    data = folder_training_data([src / "NORMAL"], (32, 32), val_count=6, seed=1, workers=1)
    train = {patient_from_name(p.name) for p in data.train.paths}
    val = {patient_from_name(p.name) for p in data.val.paths}
    assert not train & val
    assert data.summary["n_val_normal"] == 6
    assert data.summary["split"]["n_patients"]["val"] == len(val)
    assert data.summary["split"]["grouped_by"] == "patient"


def test_val_fraction_groups_dicom_files_by_patient_id(tmp_path):
    folder = tmp_path / "dicoms"
    folder.mkdir()
    for i in range(10):
        ds = pydicom.dcmread(DATA / "dicom" / "dx_image.dcm")
        ds.PatientID = f"P{i // 2}"  # two files per patient, names say nothing
        ds.save_as(folder / f"file{i:02d}.dcm")
    data = folder_training_data([folder], (32, 32), val_fraction=0.4, seed=0, workers=1)
    pid = {p.name: dicom_patient_id(p) for p in folder.iterdir()}
    train = {pid[p.name] for p in data.train.paths}
    val = {pid[p.name] for p in data.val.paths}
    assert len(data.val) == 4 and not train & val


def test_split_script_keeps_patients_on_one_side_of_every_part(tmp_path):
    src = _fake_zhanglab(tmp_path, 30, 40)
    shutil.copy(src / "NORMAL" / "IM-0003-0001.jpeg", src / "NORMAL" / "IM-0999-0001.jpeg")
    out = tmp_path / "split"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_zhanglab_split.py"), str(src), str(out),
         "--select-normal", "8", "--report-normal", "8", "--select-abnormal", "15",
         "--report-abnormal", "15", "--seed", "3"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with open(out / "split.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    parts_of: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    for r in rows:
        parts_of.setdefault(patient_key(Path(r["file"]).name), set()).add(r["part"])
        counts[r["part"]] = counts.get(r["part"], 0) + 1
    assert all(len(p) == 1 for p in parts_of.values())
    assert counts["select_normal"] == counts["report_normal"] == 8
    assert counts["select_abnormal"] == counts["report_abnormal"] == 15
    assert counts["train_normal"] == 61 - 16
    # identical files (the copy above) are one group even across patient names
    side = {r["file"]: r["part"] for r in rows}
    assert side["NORMAL/IM-0003-0001.jpeg"] == side["NORMAL/IM-0999-0001.jpeg"]
    assert (out / "select_abnormal").is_dir() and len(list((out / "report_normal").iterdir())) == 8
    # --from-csv recreates the same parts elsewhere
    again = tmp_path / "again"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_zhanglab_split.py"), str(src), str(again),
         "--from-csv", str(out / "split.csv")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (again / "report_normal").iterdir()) == sorted(
        p.name for p in (out / "report_normal").iterdir())


def test_split_from_an_old_csv_adds_new_patient_and_unseen_parts(tmp_path):
    src = _fake_zhanglab(tmp_path, 12, 20)
    normals = sorted(p.name for p in (src / "NORMAL").iterdir())
    pneumonia = sorted(p.name for p in (src / "PNEUMONIA").iterdir())
    old = tmp_path / "old.csv"
    with open(old, "w", newline="") as fh:  # an ungrouped split: patients straddle it
        w = csv.writer(fh)
        w.writerow(["part", "file"])
        w.writerows(("val_normal" if i % 4 == 0 else "train_normal", f"NORMAL/{n}")
                    for i, n in enumerate(normals))
        w.writerows(("val_abnormal", f"PNEUMONIA/{n}") for n in pneumonia[:6])
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_zhanglab_split.py"), str(src), str(out),
         "--from-csv", str(old), "--unseen-abnormal", "10"], capture_output=True, text=True,
        timeout=120)
    assert proc.returncode == 0, proc.stderr
    train = {patient_key(p.name) for p in (out / "train_normal").iterdir()}
    val = [patient_key(p.name) for p in (out / "val_normal").iterdir()]
    new = [patient_key(p.name) for p in (out / "val_normal_new_patients").iterdir()]
    assert set(val) & train  # the old split was leaky ...
    assert new and not set(new) & train and len(new) < len(val)  # ... this part is not
    listed = {patient_key(n) for n in pneumonia[:6]}
    unseen = [patient_key(p.name) for p in (out / "unseen_abnormal").iterdir()]
    assert len(unseen) == 10 and not set(unseen) & listed


def test_files_without_a_patient_split_as_before(tmp_path):
    """Names with no patient in them keep the ungrouped split of earlier versions (so a
    run resumed across versions holds out the same images)."""
    folder = tmp_path / "plain"
    folder.mkdir()
    for i in range(10):
        _variant(JPEG, folder / f"scan_{i:02d}.png", i)
    data = folder_training_data([folder], (32, 32), val_count=3, seed=4, workers=1)
    keys = [f"0/scan_{i:02d}.png" for i in range(10)]
    old_val = sorted(stable_order(keys, 4)[:3])  # the rule before grouping
    assert sorted(p.name for p in data.val.paths) == [k.split("/")[1] for k in old_val]
