"""What ``squid eval``, ``squid score`` and ``squid info`` report, checked against the
bundled model and the demo's ZhangLab studies: every rate recomputed independently
from the per-image scores and the thresholds stored in the model file.

Assertions are on the JSON/CSV values, not on the printed layout.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from sklearn.metrics import roc_auc_score

from squid_core.cli import main
from squid_core.safetensors_header import read_squid_metadata

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "resources" / "models" / "default.safetensors"
DEMO = ROOT / "resources" / "demo"


@pytest.fixture(scope="module")
def stored() -> dict:
    """The model file's metadata, read straight from its header (not through the CLI)."""
    return read_squid_metadata(MODEL)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path]:
    """The demo's two ZhangLab normals and two pneumonia studies in labelled folders."""
    root = tmp_path_factory.mktemp("demo")
    for label in ("normal", "pneumonia"):
        (root / label).mkdir()
        for path in DEMO.glob(f"zhanglab_{label}_*.dcm"):
            shutil.copy(path, root / label / path.name)
    return root / "normal", root / "pneumonia"


@pytest.fixture(scope="module")
def eval_report(folders, tmp_path_factory) -> dict:
    normal, abnormal = folders
    labels = tmp_path_factory.mktemp("labels") / "labels.csv"
    labels.write_text("file,anomaly_type\nzhanglab_pneumonia_1.dcm,consolidation\n"
                      "zhanglab_pneumonia_2.dcm,interstitial\n")
    out = labels.parent / "eval.json"
    assert main(["eval", "--model", str(MODEL), "--normal", str(normal), "--abnormal",
                 str(abnormal), "--labels", str(labels), "--device", "cpu", "--quiet",
                 "--json", str(out)]) == 0
    return json.loads(out.read_text())


def _rates(images: list[dict], threshold: float) -> dict[str, float]:
    flagged = [(im["score"] >= threshold, im["label"]) for im in images]
    tp = sum(f and y == 1 for f, y in flagged)
    fp = sum(f and y == 0 for f, y in flagged)
    n_abn = sum(y == 1 for _, y in flagged)
    n_norm = len(flagged) - n_abn
    fn, tn = n_abn - tp, n_norm - fp
    return {"sensitivity": tp / n_abn, "specificity": tn / n_norm,
            "accuracy": (tp + tn) / len(flagged), "f1": 2 * tp / (2 * tp + fp + fn)}


def test_eval_reports_the_rates_at_each_stored_operating_point(eval_report, stored,
                                                                demo_results) -> None:
    images = eval_report["images"]
    assert sorted(Path(im["path"]).name for im in images) == [
        "zhanglab_normal_1.dcm", "zhanglab_normal_2.dcm",
        "zhanglab_pneumonia_1.dcm", "zhanglab_pneumonia_2.dcm"]
    for im in images:  # the CLI scores as the viewer's scorer does
        assert im["score"] == pytest.approx(demo_results[Path(im["path"]).name].score, abs=1e-3)
        assert im["label"] == (1 if "pneumonia" in im["path"] else 0)
    assert [op["name"] for op in eval_report["operating_points"]] == [
        op["name"] for op in stored["operating_points"]]
    assert eval_report["default_operating_point"] == stored["default_operating_point"]
    for op, kept in zip(eval_report["operating_points"], stored["operating_points"],
                        strict=True):
        assert op["threshold"] == kept["threshold"]
        for name, value in _rates(images, kept["threshold"]).items():
            assert op[name] == pytest.approx(value), (op["name"], name)
    # The ZhangLab demo is no trivial case: the two points disagree on these images.
    rates = [(op["sensitivity"], op["specificity"]) for op in eval_report["operating_points"]]
    assert len(set(rates)) == len(rates)


def test_eval_auc_overall_and_per_anomaly_type(eval_report) -> None:
    images = eval_report["images"]
    ranks = {Path(im["path"]).name: -im["raw_logit"] for im in images}
    labels = {Path(im["path"]).name: im["label"] for im in images}
    assert eval_report["auc"] == pytest.approx(
        roc_auc_score(list(labels.values()), list(ranks.values())))
    normals = [n for n in labels if labels[n] == 0]
    per_type = eval_report["auc_per_anomaly_type"]
    assert set(per_type) == {"consolidation", "interstitial"}
    for kind, name in (("consolidation", "zhanglab_pneumonia_1.dcm"),
                       ("interstitial", "zhanglab_pneumonia_2.dcm")):
        subset = [*normals, name]
        expected = roc_auc_score([labels[n] for n in subset], [ranks[n] for n in subset])
        assert per_type[kind] == pytest.approx(expected), kind
    # each type's AUC is its own subset's, not the pooled one copied (the pooled AUC
    # counts both pneumonia images against the normals)
    pooled = roc_auc_score(list(labels.values()), list(ranks.values()))
    assert eval_report["auc"] == pytest.approx(pooled)


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_score_flags_exactly_the_scores_at_or_above_the_threshold(fmt, tmp_path, stored,
                                                                   folders, demo_results) -> None:
    out = tmp_path / f"scores.{fmt}"
    normal, pneumonia = folders
    assert main(["score", str(normal), str(pneumonia), "--model", str(MODEL), "--device", "cpu",
                 "--quiet", f"--{fmt}", str(out)]) == 0
    if fmt == "csv":
        with open(out, newline="") as fh:
            rows = list(csv.DictReader(fh))
        # The CSV says the flag in the viewer CSV's words; a result that needs review
        # (outside the training data here) is "review", never "no".
        assert {r["flagged"] for r in rows if r["status"] != "scored"} <= {"review"}
        records = [{"path": r["path"], "score": float(r["score"]), "status": r["status"],
                    "flagged": {"yes": True, "no": False, "review": None}[r["flagged"]],
                    "operating_point": r["operating_point"]} for r in rows]
    else:
        records = json.loads(out.read_text())["images"]
        for r in records:  # JSON keeps the flag at the threshold, and the verdict
            assert (r["verdict"] in ("FLAG", "no flag")) == (r["status"] == "scored")
    default = stored["default_operating_point"]
    threshold = next(op["threshold"] for op in stored["operating_points"]
                     if op["name"] == default)
    assert sorted(Path(r["path"]).name for r in records) == sorted(
        p.name for p in [*normal.iterdir(), *pneumonia.iterdir()])
    for r in records:
        assert r["operating_point"] == default
        if fmt == "json" or r["status"] == "scored":
            assert r["flagged"] == (r["score"] >= threshold), r
        assert r["score"] == pytest.approx(demo_results[Path(r["path"]).name].score, abs=1e-3)
    assert {True, False} <= {r["flagged"] for r in records}  # both outcomes occur


def test_info_json_prints_the_files_metadata_document(capsys, stored) -> None:
    assert main(["info", "--json", str(MODEL)]) == 0
    assert json.loads(capsys.readouterr().out) == stored
    assert main(["info", str(MODEL)]) == 0
    text = capsys.readouterr().out
    assert stored["name"] in text and stored["version"] in text


def test_info_on_a_damaged_file_is_an_error_not_a_traceback(tmp_path, capsys) -> None:
    damaged = tmp_path / "cut.safetensors"
    damaged.write_bytes(MODEL.read_bytes()[:200])
    assert main(["info", "--json", str(damaged)]) == 1
    err = capsys.readouterr().err
    assert "squid info: error:" in err and "Traceback" not in err
