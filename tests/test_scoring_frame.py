"""One frame choice: every surface that scores a multi-frame image scores the frame
`scoring_frame` picks (the one on screen when the user chose it, else the first) and
says which; training decodes the same frame the scorer is given."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

import squid_core
from squid_core.io import read_image
from squid_core.scoring.analysis import analyse, analyse_image, scoring_frame
from squid_core.scoring.scorer import Scorer
from squid_core.scoring.summary import ResultSummary
from viewer._testsupport import tiny_model_file

#: 10 frames of 64 x 64 MR (real, pydicom's test data): not applicable, so forced.
MULTI = Path(__file__).parent / "data" / "dicom" / "emri_small_RLE.dcm"


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    return tiny_model_file(tmp_path_factory.mktemp("model") / "tiny.safetensors")


@pytest.fixture(scope="module")
def scorer(model_path) -> Scorer:
    return Scorer(squid_core.load_model(model_path), device="cpu")


def test_the_rule_and_its_errors():
    image = read_image(MULTI)
    pixels, index = scoring_frame(image)
    assert index == 0 and np.array_equal(pixels, image.pixels[0])
    pixels, index = scoring_frame(image, 3)
    assert index == 3 and np.array_equal(pixels, image.pixels[3])
    assert not np.array_equal(image.pixels[0], image.pixels[3])  # the choice matters here
    with pytest.raises(IndexError, match="the image has 10 frames"):
        scoring_frame(image, 10)
    with pytest.raises(IndexError, match="out of range"):
        scoring_frame(image, -1)


def test_cli_service_worker_and_viewer_runner_score_the_same_frame(scorer, model_path,
                                                                   tmp_path):
    from squid_core.cli import main
    from squid_core.service.jobs import Job
    from squid_core.service.worker import analyse as worker_analyse

    image = read_image(MULTI)
    first = analyse(scorer, image.frame(0), image.meta, force=True)
    other = analyse(scorer, image.frame(4), image.meta, force=True, frame=4)
    assert first.score != pytest.approx(other.score, abs=1e-6)

    # squid score (and squid eval, which shares score_files): the first frame, said so.
    out = tmp_path / "s.json"
    assert main(["score", str(MULTI), "--model", str(model_path), "--device", "cpu",
                 "--quiet", "--force", "--json", str(out)]) == 0
    (record,) = json.loads(out.read_text())["images"]
    assert record["frame"] == 0 and record["score"] == pytest.approx(first.score, abs=1e-4)

    # The analysis service's worker (the node submits no frame; the viewer its own).
    node = worker_analyse(Job("k", str(MULTI), force=True), scorer)
    assert node.result.frame == 0 and node.result.score == pytest.approx(first.score, abs=1e-4)
    chosen = worker_analyse(Job("k", str(MULTI), frame=4, force=True), scorer)
    assert chosen.result.frame == 4
    assert chosen.result.score == pytest.approx(other.score, abs=1e-4)
    bad = worker_analyse(Job("k", str(MULTI), frame=12, force=True), scorer)
    assert bad.status == "error" and "the image has 10 frames" in bad.reason

    # One ImageData through the library call every surface can use.
    assert analyse_image(scorer, image, force=True).score == pytest.approx(first.score, abs=1e-4)
    assert ResultSummary.from_result(chosen.result).row()["frame"] == 4


def test_the_viewer_session_scores_the_frame_on_screen_and_else_the_first(scorer):
    """The session (what the viewer observes) scores the frame the user is looking at
    ("Analyse" on frame 5) and the first frame for images analysed in the background."""
    from squid_core.session import Session
    from viewer._testsupport import poll

    session = Session()
    session.use_scorer(scorer)
    got = {}
    session.result_ready.connect(lambda key, frame, result: got.setdefault(frame, result))
    session.analyse([(str(MULTI), 4, True)], visible=True)
    assert poll(lambda: 4 in got and not session.busy)
    session.catalog.clear_scores()
    session.analyse([(str(MULTI), 0, True)])
    assert poll(lambda: 0 in got and not session.busy)
    session.close()
    image = read_image(MULTI)
    assert got[4].frame == 4 and got[0].frame == 0
    want = analyse(scorer, image.frame(4), image.meta, force=True).score
    assert got[4].score == pytest.approx(want, abs=1e-4)
    assert got[0].score == pytest.approx(analyse_image(scorer, image, force=True).score, abs=1e-4)


def test_training_decodes_the_frame_the_scorer_is_given(scorer):
    from squid_core.training.datasets import load_image_set, to_model_input

    size = (scorer.model.config.image_size,) * 2
    image = read_image(MULTI)
    cached = load_image_set([MULTI], size).images[0, 0].float().numpy()
    want = to_model_input(scoring_frame(image)[0], size)
    assert np.allclose(cached, want, atol=1e-3)  # float16 cache
    assert not np.allclose(cached, to_model_input(image.frame(4), size), atol=1e-3)


def test_the_sr_references_the_scored_frame_of_a_multiframe_source(scorer):
    from squid_core.exports import score_report
    from squid_core.scoring.analysis import analyse_image

    image = read_image(MULTI)
    summary = ResultSummary.from_result(analyse_image(scorer, image, 6, force=True))
    sr = score_report(summary, image.header)
    source = next(item for item in sr.ContentSequence if item.ValueType == "IMAGE")
    assert source.ReferencedSOPSequence[0].ReferencedFrameNumber == 7  # 1-based
    single = pydicom.dcmread(Path(MULTI).with_name("SIIM_CR_chest.dcm"), stop_before_pixels=True)
    sr = score_report(summary, single)
    source = next(item for item in sr.ContentSequence if item.ValueType == "IMAGE")
    assert "ReferencedFrameNumber" not in source.ReferencedSOPSequence[0]
