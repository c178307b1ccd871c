"""The shipped model: what the model card and the README say about it is what the file
holds, and the demo's ZhangLab studies are scored as the card promises.

Every figure is read from the card's text and compared with the file's metadata (or
recomputed from what the file stores), so a re-calibration that updates both passes
and one that updates only one of them fails.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pydicom
import pytest

from squid_core.model.presets import get_preset

ROOT = Path(__file__).resolve().parent.parent
CARD = ROOT / "resources" / "models" / "MODEL_CARD.md"
SPLIT = ROOT / "resources" / "models" / "default_split.csv"
README = ROOT / "README.md"
DEMO = ROOT / "resources" / "demo"
ZHANGLAB_NORMALS = ("zhanglab_normal_1.dcm", "zhanglab_normal_2.dcm")
ZHANGLAB_PNEUMONIA = ("zhanglab_pneumonia_1.dcm", "zhanglab_pneumonia_2.dcm")


def _found(pattern: str, text: str) -> re.Match[str]:
    match = re.search(pattern, text)
    assert match, f"the text no longer says /{pattern}/"
    return match


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _printed(value: float, shown: str) -> bool:
    """Whether ``shown`` is ``value`` rounded to the decimals ``shown`` has."""
    decimals = len(shown.partition(".")[2])
    return abs(value - _number(shown)) <= 0.5 * 10 ** -decimals + 1e-9


def _operating_point(meta: dict, name: str) -> dict:
    return next(p for p in meta["operating_points"] if p["name"] == name)


def _confusion_from_roc(meta: dict, threshold: float) -> dict[str, float]:
    """Sensitivity, specificity, accuracy and F1 at ``threshold`` recomputed from the
    validation ROC stored in the file (scores >= threshold are positive)."""
    val = meta["metrics"]["validation"]
    roc = val["roc"]
    at = max(i for i, t in enumerate(roc["thresholds"]) if t >= threshold)
    n_abn, n_norm = val["n_abnormal"], val["n_normal"]
    tp, fp = round(roc["tpr"][at] * n_abn), round(roc["fpr"][at] * n_norm)
    fn, tn = n_abn - tp, n_norm - fp
    return {"sensitivity": tp / n_abn, "specificity": tn / n_norm,
            "accuracy": (tp + tn) / (n_abn + n_norm), "f1": 2 * tp / (2 * tp + fp + fn),
            "tp": tp, "fp": fp}


@pytest.fixture(scope="module")
def meta(bundled_model) -> dict:
    return bundled_model.metadata


@pytest.fixture(scope="module")
def card() -> str:
    return CARD.read_text(encoding="utf-8")


def test_the_card_names_the_files_version_architecture_and_size(bundled_model, meta, card):
    assert _found(r"^# Model card: `default\.safetensors`.*version (\S+)\s*$",
                  card.splitlines()[0] + "\n").group(1) == meta["version"]
    preset = _found(r"`(\w+)` preset: (\d+) x \d+ input", card)
    assert bundled_model.config == get_preset(preset.group(1))
    assert int(preset.group(2)) == bundled_model.config.image_size
    sizes = _found(r"(\d+(?:\.\d+)?) M generator \+ (\d+(?:\.\d+)?) M discriminator parameters", card)
    n_gen = sum(p.numel() for p in bundled_model.generator.parameters()) / 1e6
    n_disc = sum(p.numel() for p in bundled_model.discriminator.parameters()) / 1e6
    assert _printed(n_gen, sizes.group(1)) and _printed(n_disc, sizes.group(2))


def test_the_cards_data_figures_are_the_files_and_the_split_files(meta, card):
    parts: dict[str, int] = {}
    with open(SPLIT, newline="") as fh:
        for row in csv.DictReader(fh):
            parts[row["part"]] = parts.get(row["part"], 0) + 1
    n_train = int(_number(_found(r"minus the held-out parts: ([\d,]+) normal images",
                                 card).group(1)))
    assert n_train == meta["training"]["data"]["n_train"] == parts["train_normal"]
    assert meta["calibration"]["n_images"] == n_train  # "over the 1,041 training normals"
    assert int(_number(_found(r"over the ([\d,]+) training normals", card).group(1))) == n_train
    held = _found(r"([\d,]+) normal \+ ([\d,]+) pneumonia images held out to choose", card)
    val = meta["metrics"]["validation"]
    assert (int(_number(held.group(1))), int(_number(held.group(2)))) == (
        val["n_normal"], val["n_abnormal"]) == (parts["select_normal"], parts["select_abnormal"])
    report = _found(r"([\d,]+) normal \+ ([\d,]+) pneumonia images of other children", card)
    assert (int(_number(report.group(1))), int(_number(report.group(2)))) == (
        parts["report_normal"], parts["report_abnormal"])
    epochs = _found(r"(\d+) epochs in .*?best select epoch \((\d+)\)", card)
    assert int(epochs.group(1)) == meta["training"]["epochs"]
    assert int(epochs.group(2)) == meta["training"]["best_epoch"] + 1  # the card counts from 1


def test_the_cards_calibration_heatmap_and_operating_points_are_the_files(meta, card):
    cal = _found(r"mu = (-?\d+(?:\.\d+)?), sigma = (\d+(?:\.\d+)?)", card)
    assert _printed(meta["calibration"]["mu"], cal.group(1))
    assert _printed(meta["calibration"]["sigma"], cal.group(2))
    assert meta["heatmap"]["units"] == "sigma above normal"
    assert _printed(meta["heatmap"]["scale_max"],
                    _found(r"colour scale fixed at 0-(\d+(?:\.\d+)?)", card).group(1))
    default = _found(r"`([\w ]+)` \(default\): score >= (\d+(?:\.\d+)?)", card)
    assert default.group(1) == meta["default_operating_point"]
    assert _printed(_operating_point(meta, default.group(1))["threshold"], default.group(2))
    high = _found(r"`high sensitivity`: score >= (\d+(?:\.\d+)?)", card)
    assert _printed(_operating_point(meta, "high sensitivity")["threshold"], high.group(1))


def test_the_cards_validation_table_is_what_the_file_stores(meta, card):
    val = meta["metrics"]["validation"]
    row = _found(r"\| select part \((\d+) / (\d+)\), balanced point \| \*\*(\d+(?:\.\d+)?)\*\* "
                 r"\| (\d+(?:\.\d+)?) \| (\d+(?:\.\d+)?) \| (\d+(?:\.\d+)?) \| (\d+(?:\.\d+)?) \|", card)
    n_norm, n_abn, auc, sens, spec, acc, f1 = row.groups()
    assert (int(n_norm), int(n_abn)) == (val["n_normal"], val["n_abnormal"])
    assert _printed(val["auc"], auc)
    # The stored figures at the default point, and the same recomputed from the stored ROC.
    balanced = _operating_point(meta, meta["default_operating_point"])
    stored = val["at_operating_point"]
    assert stored["threshold"] == balanced["threshold"]
    recomputed = _confusion_from_roc(meta, balanced["threshold"])
    assert (recomputed["tp"], recomputed["fp"]) == (stored["tp"], stored["fp"])
    for name, shown in (("sensitivity", sens), ("specificity", spec), ("accuracy", acc),
                        ("f1", f1)):
        assert _printed(stored[name], shown) and _printed(recomputed[name], shown), name
    assert _printed(balanced["sensitivity"], sens) and _printed(balanced["specificity"], spec)
    # The high-sensitivity row, from the stored ROC at that point's threshold.
    row = _found(r"\| same, high-sensitivity point \| +\| (\d+(?:\.\d+)?) \| (\d+(?:\.\d+)?) \| (\d+(?:\.\d+)?) "
                 r"\| (\d+(?:\.\d+)?) \|", card)
    high = _operating_point(meta, "high sensitivity")
    recomputed = _confusion_from_roc(meta, high["threshold"])
    for name, shown in zip(("sensitivity", "specificity", "accuracy", "f1"), row.groups(),
                           strict=True):
        assert _printed(recomputed[name], shown), name
    assert _printed(high["sensitivity"], row.group(1))
    assert _printed(high["specificity"], row.group(2))
    # and the stored AUC is the area under the stored curve
    assert _printed(float(np.trapezoid(val["roc"]["tpr"], val["roc"]["fpr"])), auc)


def test_the_readme_quotes_the_card(meta, card):
    readme = README.read_text(encoding="utf-8")
    section = readme[readme.index("## The bundled model"):]
    section = section[:section.index("\n## ", 3)]
    assert _found(r"version (\d+\.\d+)", section).group(1) == meta["version"]
    assert _printed(meta["metrics"]["validation"]["auc"],
                    _found(r"select AUC\s+\*\*(\d+(?:\.\d+)?)\*\*", section).group(1))
    # the report figures are the card's
    card_row = _found(REPORT_ROW, card).groups()
    auc = _found(r"AUC \*\*(\d\.\d+)\*\* \[(\d\.\d+), (\d\.\d+)\]", section).groups()
    assert auc == card_row[2:5]
    rates = _found(r"sensitivity (\d\.\d+) \[(\d\.\d+),\s+(\d\.\d+)\], specificity "
                   r"(\d\.\d+) \[(\d\.\d+), (\d\.\d+)\]", section).groups()
    assert rates == card_row[5:]
    stored = meta["metrics"]["validation"]["at_operating_point"]
    at = _found(r"select AUC\s+\*\*[\d.]+\*\*, sensitivity (\d+(?:\.\d+)?), specificity "
                r"(\d+(?:\.\d+)?)", section)
    assert _printed(stored["sensitivity"], at.group(1))
    assert _printed(stored["specificity"], at.group(2))
    n_train = _found(r"trained on the ([\d,]+)\s+ZhangLab pediatric normal", section).group(1)
    assert int(_number(n_train)) == meta["training"]["data"]["n_train"]
    assert _found(r"`(\w+)` preset", section).group(1) == _found(r"`(\w+)` preset", card).group(1)


def test_the_demo_zhanglab_studies_come_from_the_report_part():
    """The demo makes sense only if the model never trained on these children and they
    chose nothing (the report part of the patient-grouped split)."""
    parts = {}
    with open(SPLIT, newline="") as fh:
        for row in csv.DictReader(fh):
            parts[Path(row["file"]).name] = row["part"]
    for name in ZHANGLAB_NORMALS + ZHANGLAB_PNEUMONIA:
        source = pydicom.dcmread(DEMO / name).SeriesDescription.removeprefix("ZhangLab ")
        assert parts[source] == ("report_normal" if "normal" in name else "report_abnormal"), name


def test_the_bundled_model_does_not_flag_the_demo_normals(bundled_model, demo_results):
    meta = bundled_model.metadata
    default = _operating_point(meta, meta["default_operating_point"])
    for name in ZHANGLAB_NORMALS:
        result = demo_results[name]
        assert result.calibrated and result.operating_point.name == default["name"]
        assert result.flagged is False, (name, result.score, default["threshold"])
        assert result.score < default["threshold"]
        assert result.heatmap_units == "sigma above normal"


def test_the_bundled_model_finds_the_demo_pneumonia(bundled_model, demo_results):
    meta = bundled_model.metadata
    default = _operating_point(meta, meta["default_operating_point"])
    high = _operating_point(meta, "high sensitivity")
    pneumonia = [demo_results[n] for n in ZHANGLAB_PNEUMONIA]
    normals = [demo_results[n] for n in ZHANGLAB_NORMALS]
    # At the default point (specificity >= 0.90) one of the two is flagged; at the
    # high-sensitivity point (sensitivity >= 0.95) both are.
    assert any(r.flagged for r in pneumonia)
    assert all(r.flagged == (r.score >= default["threshold"]) for r in pneumonia)
    assert all(r.score >= high["threshold"] for r in pneumonia)
    assert max(r.score for r in pneumonia) > max(r.score for r in normals)


ZHANGLAB_TRAIN = ROOT.parent / "shared" / "data" / "zhanglab_224" / "train"


REPORT_ROW = (r"\| report part \((\d+) / ([\d,]+)\), balanced point \| \*\*(\d\.\d+)\*\* "
              r"\[(\d\.\d+), (\d\.\d+)\] \| (\d\.\d+) \[(\d\.\d+), (\d\.\d+)\] "
              r"\| (\d\.\d+) \[(\d\.\d+), (\d\.\d+)\] \|")


def _eval_part(tmp_path, part_of: dict[str, str], bootstrap: int = 0) -> dict:
    """``squid eval`` of the bundled model on the split's parts ``part_of`` names
    ({"normal": part, "abnormal": part}), linked from ../shared."""
    from squid_core.cli import main

    folders = {kind: tmp_path / part for kind, part in part_of.items()}
    for folder in folders.values():
        folder.mkdir(parents=True)
    with open(SPLIT, newline="") as fh:
        for row in csv.DictReader(fh):
            for kind, part in part_of.items():
                if row["part"] == part:
                    source = ZHANGLAB_TRAIN / row["file"]
                    (folders[kind] / source.name).symlink_to(source)
    out = tmp_path / "eval.json"
    assert main(["eval", "--model", str(ROOT / "resources/models/default.safetensors"),
                 "--normal", str(folders["normal"]), "--abnormal", str(folders["abnormal"]),
                 "--device", "cpu", "--quiet", "--bootstrap", str(bootstrap),
                 "--json", str(out)]) == 0
    return json.loads(out.read_text())


@pytest.mark.slow  # 2,300 images scored: about a minute on one CPU core
@pytest.mark.skipif(not ZHANGLAB_TRAIN.is_dir(), reason="../shared/data/zhanglab_224 is absent")
def test_the_cards_figures_are_measured_again(tmp_path, card, meta):
    """The card's own commands (``squid eval`` on the select and on the report part of
    default_split.csv) give the AUCs, rates and intervals the card and README print."""
    select = _eval_part(tmp_path / "select", {"normal": "select_normal",
                                              "abnormal": "select_abnormal"})
    row = _found(r"\| select part \((\d+) / (\d+)\), balanced point \| \*\*(\d+(?:\.\d+)?)\*\* "
                 r"\| (\d+(?:\.\d+)?) \| (\d+(?:\.\d+)?) \|", card)
    assert (select["n_normal"], select["n_abnormal"]) == (int(row.group(1)), int(row.group(2)))
    assert _printed(select["auc"], row.group(3))
    balanced = next(op for op in select["operating_points"]
                    if op["name"] == meta["default_operating_point"])
    assert _printed(balanced["sensitivity"], row.group(4))
    assert _printed(balanced["specificity"], row.group(5))

    report = _eval_part(tmp_path / "report", {"normal": "report_normal",
                                              "abnormal": "report_abnormal"}, bootstrap=2000)
    row = _found(REPORT_ROW, card).groups()
    assert (report["n_normal"], report["n_abnormal"]) == (int(row[0]), int(_number(row[1])))
    shown = [report["auc"], report["auc_ci"]["low"], report["auc_ci"]["high"]]
    balanced = next(op for op in report["operating_points"]
                    if op["name"] == meta["default_operating_point"])
    for rate in ("sensitivity", "specificity"):
        ci = balanced[f"{rate}_ci"]
        shown += [balanced[rate], ci["low"], ci["high"]]
    for value, text in zip(shown, row[2:], strict=True):
        assert _printed(value, text), (value, text)
