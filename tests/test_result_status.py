"""Result status (scored / not-applicable / outside) in squid_core and `squid score`,
on real files and the bundled model."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import squid_core
from squid_core.cli import main as cli_main
from squid_core.io import read_image
from squid_core.model_file import ModelFileError
from squid_core.scoring.analysis import FORCED_NOTE, analyse
from squid_core.scoring.applicability import ApplicabilityRules, check_applicability
from squid_core.scoring.ood_guard import MIN_IMAGES, fit_guard
from squid_core.scoring.result import NOT_APPLICABLE, OUTSIDE, SCORED
from squid_core.scoring.scorer import Scorer
from viewer._testsupport import tiny_model_file

DATA = Path(__file__).parent / "data"
BUNDLED = Path(__file__).parents[1] / "resources" / "models" / "default.safetensors"
DEFAULT = ApplicabilityRules.from_metadata(None)
NORMAL_CHILD = DATA / "images" / "zhanglab_NORMAL_IM-0115-0001.jpeg"
ADULT = DATA / "images" / "NIH_00027426_000.png"
MR = DATA / "dicom" / "MR_small_RLE.dcm"


@pytest.mark.parametrize("name, expected", [
    ("dicom/MR_small_RLE.dcm", ["an MR image (modality MR)"]),
    ("dicom/OBXXXX1A_rle_2frame.dcm", ["ultrasound", "colour image (PALETTE COLOR)",
                                       "multi-frame object (2 frames"]),
    ("dicom/dicomdir_CR1_6154.dcm", ["body part CSPINE", "a lateral view (LL)"]),
    ("dicom/RG3_J2KI.dcm", ["body part EXTREMITY"]),
    ("dicom/SC_rgb_rle_2frame.dcm", ["modality OT", "colour image (RGB)", "2 frames"]),
    ("dicom/SIIM_CR_chest.dcm", []),
    ("dicom/dx_image.dcm", []),  # DX THORAX; its Patient Orientation "L\\F" is not a view
    ("images/zhanglab_NORMAL_IM-0115-0001.jpeg", []),  # a grey picture stored as RGB JPEG
    ("images/NIH_00027426_palette.png", []),  # a grey palette
])
def test_applicability_from_real_tags(name: str, expected: list[str]) -> None:
    reasons = check_applicability(read_image(DATA / name).meta, DEFAULT)
    assert len(reasons) == len(expected)
    for want, got in zip(expected, reasons, strict=True):
        assert want in got


def test_a_colour_photograph_is_not_applicable_but_a_grey_rgb_file_is(tmp_path) -> None:
    grey = cv2.imread(str(NORMAL_CHILD))
    assert read_image(NORMAL_CHILD).meta.colour is False
    tinted = grey.copy()
    tinted[..., 0] = (tinted[..., 0] * 0.3).astype(np.uint8)  # a warm-toned photograph
    cv2.imwrite(str(tmp_path / "photo.png"), tinted)
    meta = read_image(tmp_path / "photo.png").meta
    assert meta.colour is True
    assert "colour image" in check_applicability(meta, DEFAULT)[0]


def test_a_model_declares_what_it_applies_to() -> None:
    meta = read_image(MR).meta
    mr_model = ApplicabilityRules.from_metadata(
        {"applicability": {"modalities": ["MR"], "body_parts": []}})
    assert check_applicability(meta, mr_model) == []
    assert ApplicabilityRules.from_metadata({}).as_metadata()["modalities"] == ["CR", "DX"]
    with pytest.raises(ValueError):
        ApplicabilityRules.from_metadata({"applicability": {"modalities": "CR"}})


def test_guard_threshold_is_an_out_of_fold_quantile() -> None:
    rng = np.random.default_rng(0)
    normals = rng.normal(size=(400, 6))
    guard = fit_guard(normals, quantile=0.95)
    fresh = rng.normal(size=(2000, 6))
    rate = float(np.mean(guard.distance(fresh) > guard.threshold))
    assert 0.02 < rate < 0.09  # about 5 % of new normals, as the quantile promises
    assert np.all(guard.distance(fresh + 8.0) > guard.threshold)  # far away: outside
    with pytest.raises(ValueError, match=str(MIN_IMAGES)):
        fit_guard(normals[: MIN_IMAGES - 1])


@pytest.fixture(scope="module")
def tiny_with_guard(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """A tiny real model whose guard was fitted by calibration on 60 images."""
    from squid_core.scoring.calibration import calibrate
    from squid_core.training.finalize import attach_calibration

    path = tiny_model_file(tmp_path_factory.mktemp("guard") / "tiny.safetensors")
    model = squid_core.load_model(path)
    size = model.config.image_size
    base = cv2.resize(read_image(NORMAL_CHILD).pixels, (size, size), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(1)
    imgs = np.stack([np.clip(np.roll(base, rng.integers(-4, 5), axis=1)
                             * rng.uniform(0.9, 1.1), 0, 1) for _ in range(60)])
    cal = calibrate(model, [torch.from_numpy(imgs[:, None].astype(np.float32))])
    assert cal.ood_guard is not None and cal.ood_guard.n_images == 60
    attach_calibration(model, cal)
    model.save(path)
    return path, imgs


def test_guard_travels_in_the_model_file_and_scores_in_the_same_pass(tiny_with_guard) -> None:
    path, imgs = tiny_with_guard
    model = squid_core.load_model(path)
    assert model.metadata["ood"]["n_images"] == 60 and model.ood_guard.threshold > 0
    scorer = Scorer(model, device="cpu", precision="fp32")
    inside = scorer.score(imgs[0])
    assert inside.status == SCORED and inside.ood_distance <= inside.ood_threshold
    noise = np.random.default_rng(2).uniform(size=imgs[0].shape).astype(np.float32)
    outside = scorer.score(noise)
    assert outside.status == OUTSIDE and outside.score is not None
    assert "outside the model's training data" in outside.status_reason
    assert outside.verdict == "outside training data" and outside.needs_review


def test_a_damaged_guard_is_refused(tiny_with_guard, tmp_path) -> None:
    path, _ = tiny_with_guard
    model = squid_core.load_model(path)
    model.ood_guard.scale[:] = -1.0
    bad = tmp_path / "bad.safetensors"
    model.save(bad)
    with pytest.raises(ModelFileError, match="out-of-distribution guard is invalid"):
        squid_core.load_model(bad)


@pytest.fixture(scope="module")
def bundled_scorer() -> Scorer:
    return Scorer(squid_core.load_model(BUNDLED), device="cpu")


def _analyse(scorer: Scorer, path: Path, force: bool = False):
    image = read_image(path)
    return analyse(scorer, image.frame(0), image.meta, force=force)


def test_bundled_model_statuses_on_real_files(bundled_scorer) -> None:
    assert bundled_scorer.model.version == "2.0" and bundled_scorer.guard is not None
    child = _analyse(bundled_scorer, NORMAL_CHILD)
    assert child.status == SCORED and child.verdict in ("FLAG", "no flag")
    adult = _analyse(bundled_scorer, ADULT)
    assert adult.status == OUTSIDE and adult.score is not None
    assert adult.ood_distance > adult.ood_threshold and adult.verdict != "no flag"
    mr = _analyse(bundled_scorer, MR)
    assert mr.status == NOT_APPLICABLE and mr.score is None and mr.reconstruction is None
    assert "MR image" in mr.status_reason and mr.verdict == "not applicable"
    forced = _analyse(bundled_scorer, MR, force=True)
    assert forced.status == NOT_APPLICABLE and forced.forced and forced.score is not None
    assert FORCED_NOTE in forced.notes and "analysed anyway" in forced.status_reason


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    rc = cli_main(["score", *args, "--quiet", "--device", "cpu"])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_squid_score_has_a_status_column_and_force(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SQUID_VIEWER_DATA_DIR", str(tmp_path / "data"))  # no library yet
    files = [str(p) for p in (NORMAL_CHILD, ADULT, MR)]
    rc, out, err = _cli(capsys, *files)
    assert rc == 0 and "the bundled default model" in err and "2.0" in err
    rows = {line.split("\t")[0]: line.split("\t") for line in out.splitlines()[1:]}
    assert out.splitlines()[0].split("\t")[:2] == ["path", "status"]
    assert rows[str(NORMAL_CHILD)][1] == "scored"
    assert rows[str(ADULT)][1] == "outside" and rows[str(ADULT)][4] == "outside training data"
    assert rows[str(MR)][1:5] == ["not-applicable", "", "", "not applicable"]
    assert "1 outside the training data, 1 not applicable (needs review: 2)" in err
    rc, out, _ = _cli(capsys, str(MR), "--force", "--model", str(BUNDLED))
    forced = out.splitlines()[1].split("\t")
    assert forced[1] == "not-applicable" and float(forced[2]) >= 0.0
    assert "analysed anyway" in forced[5]


def test_squid_score_json_and_csv_carry_the_status(capsys, tmp_path) -> None:
    files = [str(ADULT), str(MR)]
    assert _cli(capsys, *files, "--model", str(BUNDLED), "--json", str(tmp_path / "s.json"))[0] == 0
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["ood_guard"] is True
    by_path = {r["path"]: r for r in doc["images"]}
    assert by_path[str(ADULT)]["status"] == "outside"
    assert by_path[str(ADULT)]["ood_distance"] > by_path[str(ADULT)]["ood_threshold"]
    assert by_path[str(MR)]["status"] == "not-applicable" and by_path[str(MR)]["score"] is None
    assert "MR image" in by_path[str(MR)]["status_reason"]
    assert _cli(capsys, *files, "--model", str(BUNDLED), "--csv", str(tmp_path / "s.csv"))[0] == 0
    rows = {r["path"]: r for r in csv.DictReader((tmp_path / "s.csv").open())}
    assert rows[str(ADULT)]["status"] == "outside" and rows[str(MR)]["verdict"] == "not applicable"


def test_squid_eval_uses_the_active_model_and_reports_outside(capsys, tmp_path,
                                                              monkeypatch) -> None:
    monkeypatch.setenv("SQUID_VIEWER_DATA_DIR", str(tmp_path / "data"))
    normal, abnormal = tmp_path / "normal", tmp_path / "abnormal"
    normal.mkdir()
    abnormal.mkdir()
    shutil.copy(NORMAL_CHILD, normal)
    shutil.copy(ADULT, normal)  # an adult among the normals: outside
    shutil.copy(DATA / "images" / "zhanglab_PNEUMONIA_person1000_bacteria_2931.jpeg", abnormal)
    rc = cli_main(["eval", "--normal", str(normal), "--abnormal", str(abnormal),
                   "--quiet", "--device", "cpu", "--json", str(tmp_path / "e.json")])
    out = capsys.readouterr()
    assert rc == 0 and "the bundled default model" in out.err
    assert "normal: 1 of 2 outside the training data (50.0 %), 0 not applicable" in out.out
    assert "abnormal: 0 of 1 outside" in out.out
    statuses = {Path(r["path"]).name: r["status"]
                for r in json.loads((tmp_path / "e.json").read_text())["images"]}
    assert statuses[ADULT.name] == "outside" and statuses[NORMAL_CHILD.name] == "scored"


def test_squid_calibrate_refits_the_guard_on_a_sites_normals(capsys, tmp_path) -> None:
    model_file = tiny_model_file(tmp_path / "tiny.safetensors")
    assert squid_core.load_model(model_file).ood_guard is None
    site = tmp_path / "site"
    site.mkdir()
    base = cv2.imread(str(ADULT), cv2.IMREAD_GRAYSCALE)
    rng = np.random.default_rng(3)
    for i in range(MIN_IMAGES + 10):  # a site's "normals": shifted, re-exposed adults
        img = np.roll(base, int(rng.integers(-20, 21)), axis=1) * rng.uniform(0.85, 1.0)
        cv2.imwrite(str(site / f"n{i:03d}.png"), img.astype(np.uint8))
    out = tmp_path / "site.safetensors"
    assert cli_main(["calibrate", "--model", str(model_file), "--normal", str(site),
                     "--device", "cpu", "-o", str(out)]) == 0
    assert "out-of-distribution guard: refitted" in capsys.readouterr().out
    guard = squid_core.load_model(out).ood_guard
    assert guard is not None and guard.n_images == MIN_IMAGES + 10
    few = tmp_path / "few"
    few.mkdir()
    for f in sorted(site.iterdir())[:5]:
        shutil.copy(f, few)
    assert cli_main(["calibrate", "--model", str(out), "--normal", str(few),
                     "--device", "cpu", "-o", str(tmp_path / "few.safetensors")]) == 0
    assert "kept the model's previous guard (60 images)" in capsys.readouterr().out
    assert squid_core.load_model(tmp_path / "few.safetensors").ood_guard.n_images == 60
    assert cli_main(["calibrate", "--model", str(model_file), "--normal", str(few),
                     "--device", "cpu", "-o", str(tmp_path / "none.safetensors")]) == 0
    assert "guard: none (fewer than 50" in capsys.readouterr().out
    assert squid_core.load_model(tmp_path / "none.safetensors").ood_guard is None


def test_an_image_just_past_the_guard_reads_as_past_it():
    """The reason never says "38.1 > 38.1": it shows the decimals that differ."""
    from squid_core.scoring.scorer import outside_reason

    assert "distance 50.8 > 38.1" in outside_reason(50.8, 38.07)
    assert "distance 38.10 > 38.07" in outside_reason(38.1012, 38.0733)
