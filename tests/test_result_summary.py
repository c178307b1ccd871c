"""One result summary: the viewer's catalog and CSV, ``squid score``, the DICOM SR and the
node's results.csv say the same words for the same result (real files, bundled model)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pydicom
import pytest

import squid_core
from squid_core.cli.score import ScoredFile, write_records
from squid_core.exports import score_report, write_scores_csv
from squid_core.exports.dicom_export import CODE_FLAGGED, CODE_OPERATING_POINT, CODE_STATUS
from squid_core.io import read_image
from squid_core.node.results_csv import ResultRow
from squid_core.scoring.analysis import analyse_image
from squid_core.scoring.operating_point import point_named
from squid_core.scoring.result import NOT_APPLICABLE, OUTSIDE, SCORED
from squid_core.scoring.scorer import Scorer
from squid_core.scoring.summary import SUMMARY_FIELDS, ResultSummary, flag_word
from squid_core.session.catalog import Catalog, Entry, csv_rows

DATA = Path(__file__).parent / "data"
BUNDLED = Path(__file__).parents[1] / "resources" / "models" / "default.safetensors"
FILES = {
    SCORED: DATA / "images" / "zhanglab_NORMAL_IM-0115-0001.jpeg",
    OUTSIDE: DATA / "images" / "NIH_00027426_000.png",
    NOT_APPLICABLE: DATA / "dicom" / "MR_small_RLE.dcm",
}


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer(squid_core.load_model(BUNDLED), device="cpu")


@pytest.fixture(scope="module")
def summaries(scorer) -> dict[str, tuple[Path, ResultSummary]]:
    out = {}
    for status, path in FILES.items():
        result = analyse_image(scorer, read_image(path))
        assert result.status == status, (path, result.status)
        out[status] = (path, ResultSummary.from_result(result))
    return out


def test_summary_reads_the_result_and_rereads_at_another_point(scorer, summaries):
    _, s = summaries[SCORED]
    result = analyse_image(scorer, read_image(FILES[SCORED]))
    assert (s.score, s.raw_logit, s.status, s.frame) == (result.score, result.raw_logit,
                                                          SCORED, 0)
    assert s.flagged == result.flagged and s.verdict == result.verdict
    assert s.operating_point == scorer.operating_point and not math.isnan(s.seconds)
    # Another point: the flag follows the threshold, nothing else changes.
    points = scorer.operating_points
    assert len(points) >= 2
    for op in points:
        again = s.at(op)
        assert again.flagged == (s.score >= op.threshold) == result.at(op).flagged
        assert again.score == s.score and again.operating_point_name == op.name
    assert s.at(point_named(points, s.operating_point.name)) is s
    assert s.at(None).flagged is None and s.at(None).verdict == "no operating point"


def test_the_plain_row_round_trips(summaries):
    for _, s in summaries.values():
        row = s.row()
        assert tuple(row) == SUMMARY_FIELDS
        json.dumps(row)  # plain values only
        back = ResultSummary.from_row(json.loads(json.dumps(row)))
        assert back.row() == row


def test_every_surface_says_the_same_words(summaries, tmp_path):
    # The viewer's catalog -> its CSV export.
    catalog = Catalog()
    catalog.add([Entry(path) for path, _ in summaries.values()])
    for path, s in summaries.values():
        catalog.set_summary(str(path), s)
    write_scores_csv(tmp_path / "viewer.csv", csv_rows(catalog))
    viewer = {r["file"]: r for r in csv.DictReader((tmp_path / "viewer.csv").open())}
    # squid score: CSV and JSON.
    records = [ScoredFile(str(path), s) for path, s in summaries.values()]
    write_records(records, None, tmp_path / "cli.csv")
    cli = {r["path"]: r for r in csv.DictReader((tmp_path / "cli.csv").open())}
    write_records(records, tmp_path / "cli.json", None)
    cli_json = {r["path"]: r for r in json.loads((tmp_path / "cli.json").read_text())["images"]}

    for status, (path, s) in summaries.items():
        key = str(path)
        node = ResultRow.of("1.2.3", "1.2", s)
        words = {"status": s.status, "verdict": s.verdict, "flagged": flag_word(s)}
        for name, row in (("viewer", viewer[key]), ("cli", cli[key])):
            assert {k: row[k] for k in words} == words, name
            assert row["frame"] == "0" and row["status_reason"] == s.status_reason, name
        assert (node.flag, node.status, node.reason) == (words["flagged"], s.status,
                                                         s.status_reason)
        assert cli_json[key]["verdict"] == s.verdict and cli_json[key]["status"] == status
        # Never "no" for a result the model cannot vouch for.
        if status != SCORED:
            assert words["flagged"] == "review" and s.verdict != "no flag"

    # The DICOM SR of the outside result (it has a score) states the same status.
    path, s = summaries[OUTSIDE]
    evidence = pydicom.dcmread(DATA / "dicom" / "SIIM_CR_chest.dcm", stop_before_pixels=True)
    sr = score_report(s, evidence)
    items = {i.ConceptNameCodeSequence[0].CodeValue: i for i in sr.ContentSequence}
    assert items[CODE_STATUS.value].TextValue == f"{OUTSIDE}: {s.status_reason}"[:1024]
    assert items[CODE_OPERATING_POINT.value].TextValue.startswith(s.operating_point.name)
    assert items[CODE_FLAGGED.value].TextValue == "review: outside training data"
    _, scored = summaries[SCORED]
    items = {i.ConceptNameCodeSequence[0].CodeValue: i
             for i in score_report(scored, evidence).ContentSequence}
    flag = items[CODE_FLAGGED.value].ConceptCodeSequence[0].CodeMeaning
    assert flag == ("Yes" if scored.flagged else "No") and items[CODE_STATUS.value].TextValue \
        == SCORED
    with pytest.raises(ValueError, match="not scored"):
        score_report(summaries[NOT_APPLICABLE][1], evidence)
