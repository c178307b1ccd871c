"""The session alone, without Qt: open studies, analyse through a service, events in
order, re-flag at another operating point without re-scoring, clear, another model.

A headless client drives it exactly as here; the viewer only observes it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from squid_core.scoring.operating_point import OperatingPoint
from squid_core.session import ModelDescriptionError, Session, describe_model_file
from squid_core.session.model_description import describe_scorer
from viewer._testsupport import ScriptedScorer, poll, tiny_model_file

DATA = Path(__file__).parent / "data"
IMAGES = DATA / "images"
ROOT = Path(__file__).resolve().parent.parent
HIGH = OperatingPoint("high sensitivity", 1.0, "sensitivity >= 0.95", 0.95, None)


class Recorder:
    """Every event of a session (and of its catalog), in order, with the thread it came on."""

    EVENTS = ("model_changed", "model_ready", "model_failed", "operating_point_changed",
              "image_changed", "frame_changed", "result_ready", "analysis_failed",
              "run_started", "run_progress", "run_finished", "cleared")

    def __init__(self, session: Session) -> None:
        self.events: list[tuple[str, tuple]] = []
        self.threads: dict[str, set[int]] = {}
        for name in self.EVENTS:
            getattr(session, name).connect(lambda *args, n=name: self._record(n, args))
        for name in ("added", "removed", "summaries_changed", "cleared"):
            getattr(session.catalog, name).connect(
                lambda *args, n=name: self._record("catalog." + n, args))

    def _record(self, name: str, args: tuple) -> None:
        self.events.append((name, args))
        self.threads.setdefault(name, set()).add(threading.get_ident())

    def names(self, prefix: str = "") -> list[str]:
        return [n for n, _ in self.events if n.startswith(prefix)]

    def of(self, name: str) -> list[tuple]:
        return [a for n, a in self.events if n == name]


@pytest.fixture
def session():
    s = Session()
    yield s
    s.close(5)


def _scripted(session: Session, scorer: ScriptedScorer | None = None) -> ScriptedScorer:
    scorer = scorer or ScriptedScorer()
    balanced = scorer.operating_point
    session.use_scorer(scorer, describe_scorer(scorer).__class__(
        name="scripted", version="test", operating_points=(balanced, HIGH),
        default_operating_point=balanced))
    return scorer


def _analyse_all(session: Session) -> int:
    n = session.analyse_all()
    assert poll(lambda: not session.busy), "the run did not end"
    return n


def test_open_a_folder_lists_its_images_with_one_added_event(session) -> None:
    rec = Recorder(session)
    new = session.open([IMAGES])
    names = sorted(p.name for p in IMAGES.iterdir())
    assert sorted(e.path.name for e in new) == names
    assert sorted(session.catalog.entries) == sorted(str(IMAGES / n) for n in names)
    [(entries, rejected)] = rec.of("catalog.added")
    assert len(entries) == len(names) and rejected == []
    assert session.open([IMAGES]) == [] and len(rec.of("catalog.added")) == 1  # nothing new


def test_analyse_all_with_a_scripted_scorer_events_in_order(session) -> None:
    scorer = _scripted(session)
    session.open([IMAGES])
    rec = Recorder(session)
    n = _analyse_all(session)
    assert n == len(session.catalog.entries) == scorer.calls
    names = rec.names()
    assert names[0] == "run_started" and rec.of("run_started") == [(n,)]
    assert names[-1] == "run_finished" and rec.of("run_finished") == [(False,)]
    # Per image: its summary in the catalog, then the result, then the progress.
    body = names[1:-1]
    assert body == ["catalog.summaries_changed", "result_ready", "run_progress"] * n
    assert [a[0] for a in rec.of("run_progress")] == list(range(1, n + 1))
    for key, frame, result in rec.of("result_ready"):
        summary = session.catalog.entries[key].summary
        assert frame == 0 and summary.score == pytest.approx(result.score)
        assert summary.flagged == (result.score >= 50.0)
    # Without a deliver function, the reports are handled on the service's thread.
    assert threading.get_ident() not in rec.threads["result_ready"]


def test_the_image_on_screen_goes_first_and_keeps_its_result(session) -> None:
    _scripted(session)
    session.open([IMAGES])
    from squid_core.io import read_image

    last = sorted(session.catalog.entries)[-1]
    session.show(last, read_image(last))
    order: list[str] = []
    session.result_ready.connect(lambda key, *_: order.append(key))
    session.result_cache = 2  # fewer than the images: the one on screen must stay
    _analyse_all(session)
    assert order[0] == last
    assert session.result is not None and session.result is session.result_for(last, 0)


def test_another_operating_point_reflags_without_rescoring(session) -> None:
    scorer = _scripted(session, ScriptedScorer(rule=lambda px: 30.0))
    session.open([IMAGES])
    _analyse_all(session)
    key = next(iter(session.catalog.entries))
    assert session.catalog.entries[key].summary.flagged is False  # 30 < 50
    calls = scorer.calls
    rec = Recorder(session)
    op = session.set_operating_point("high sensitivity")
    assert op == HIGH and session.operating_point == HIGH
    assert scorer.calls == calls and rec.of("result_ready") == []  # nothing analysed again
    # One summaries_changed for every scored image, then the point itself.
    assert rec.names() == ["catalog.summaries_changed", "operating_point_changed"]
    assert sorted(rec.of("catalog.summaries_changed")[0][0]) == sorted(session.catalog.entries)
    for entry in session.catalog.entries.values():
        assert entry.summary.flagged is True and entry.summary.operating_point == HIGH
        assert entry.summary.operating_threshold == HIGH.threshold
    kept = session.result_for(key, 0)
    assert kept is not None and kept.operating_point == HIGH and kept.flagged is True
    with pytest.raises(KeyError, match="no operating point 'nonsense'"):
        session.set_operating_point("nonsense")
    assert session.operating_point == HIGH


def test_results_arriving_later_are_read_at_the_chosen_point(session) -> None:
    _scripted(session, ScriptedScorer(rule=lambda px: 30.0))
    session.set_operating_point("high sensitivity")
    session.open([IMAGES / "TBX11K_h0001.png"])
    _analyse_all(session)
    summary = session.catalog.entries[str(IMAGES / "TBX11K_h0001.png")].summary
    assert summary.operating_point == HIGH and summary.flagged is True


def test_clear_forgets_studies_results_and_the_image_on_screen(session) -> None:
    _scripted(session)
    session.open([IMAGES])
    _analyse_all(session)
    key = next(iter(session.catalog.entries))
    rec = Recorder(session)
    session.clear()
    assert session.catalog.entries == {} and session.key is None and session.image is None
    assert session.result_for(key, 0) is None
    assert rec.names() == ["catalog.cleared", "image_changed", "cleared"]


def test_another_model_clears_the_results_and_ignores_the_old_ones(session) -> None:
    _scripted(session, ScriptedScorer(delay=0.2))
    session.open([IMAGES])
    session.analyse_all()
    assert poll(lambda: any(e.summary for e in session.catalog.entries.values()))
    rec = Recorder(session)
    second = ScriptedScorer(rule=lambda px: 99.0)
    session.use_scorer(second)  # mid-run: the run ends, cancelled
    assert session.model.name == "scripted" and not session.busy
    assert all(e.summary is None for e in session.catalog.entries.values())
    assert rec.of("run_finished") == [(True,)]
    assert rec.names().index("catalog.summaries_changed") < rec.names().index("model_changed")
    time.sleep(0.5)  # the first scorer's image in progress ends: its outcome is ignored
    assert all(e.summary is None for e in session.catalog.entries.values())
    assert _analyse_all(session) == len(session.catalog.entries)
    assert {e.summary.score for e in session.catalog.entries.values()} == {99.0}


def test_an_unreadable_image_moves_to_the_rejected(session) -> None:
    _scripted(session)
    broken = DATA / "dicom" / "MR_truncated.dcm"
    session.open([broken])
    assert str(broken) in session.catalog.entries
    rec = Recorder(session)
    _analyse_all(session)
    [(key, message, unreadable)] = rec.of("analysis_failed")
    assert key == str(broken) and unreadable and message
    assert rec.of("catalog.removed")[0][0] == key
    assert key not in session.catalog.entries
    assert [r.path for r in session.catalog.rejected] == [broken]


def test_a_deliver_function_moves_every_report_to_the_client_thread() -> None:
    """The viewer's case: reports are queued for the thread that owns the session, and
    nothing changes in the session until that thread runs them."""
    queued: list = []
    lock = threading.Lock()

    def deliver(fn) -> None:
        with lock:
            queued.append(fn)

    session = Session(deliver)
    try:
        _scripted(session)
        session.open([IMAGES / "TBX11K_h0001.png"])
        rec = Recorder(session)
        session.analyse_all()
        assert poll(lambda: len(queued) >= 1)
        time.sleep(0.1)
        assert session.busy and rec.of("result_ready") == []  # not handled yet
        while session.busy:
            with lock:
                pending, queued[:] = list(queued), []
            for fn in pending:
                fn()
            time.sleep(0.01)
        assert rec.names()[-1] == "run_finished"
        assert set().union(*rec.threads.values()) == {threading.get_ident()}
    finally:
        session.close(5)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return tiny_model_file(tmp_path_factory.mktemp("model") / "tiny.safetensors")


def test_a_model_file_is_described_from_its_header_alone(tiny_model, tmp_path) -> None:
    model = describe_model_file(tiny_model, "cpu")
    assert (model.name, model.version, model.path) == ("tiny-test", "0.1", str(tiny_model))
    assert [op.name for op in model.operating_points] == ["balanced", "high sensitivity"]
    assert model.default_operating_point.threshold == 50.0 and model.calibrated
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelDescriptionError, match="bad.safetensors"):
        describe_model_file(bad)
    with pytest.raises(ModelDescriptionError, match="not found"):
        describe_model_file(tmp_path / "missing.safetensors")
    # No torch, no weights: describing the bundled 50 MB model imports neither.
    code = ("import sys; from squid_core.session import describe_model_file as d; "
            f"m = d({str(tiny_model)!r}); print(m.name, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.split() == ["tiny-test", "False"]


def test_a_model_file_is_served_by_a_worker_process(session, tiny_model, tmp_path) -> None:
    rec = Recorder(session)
    with pytest.raises(ModelDescriptionError):
        session.load_model(tmp_path / "missing.safetensors")
    assert session.model is None and rec.names() == []  # nothing changed
    model = session.load_model(tiny_model, "cpu")
    assert session.model == model and session.operating_point.name == "balanced"
    assert poll(lambda: rec.of("model_ready"), 120), "the worker did not start"
    assert session.worker_pid not in (None, os.getpid())
    session.open([IMAGES / "TBX11K_h0001.png"])
    _analyse_all(session)
    [(key, frame, result)] = rec.of("result_ready")
    assert result.model_name == "tiny-test" and result.operating_point.name == "balanced"
    assert rec.names()[0] == "model_changed" and rec.names()[-1] == "run_finished"


def test_a_model_whose_weights_cannot_load_is_reported(session, tiny_model, tmp_path) -> None:
    damaged = tmp_path / "damaged.safetensors"
    raw = tiny_model.read_bytes()
    damaged.write_bytes(raw[:-1000])  # the header is intact, the weights are cut short
    rec = Recorder(session)
    session.load_model(damaged, "cpu")  # described from the header: accepted for now
    assert poll(lambda: rec.of("model_failed"), 120)
    assert "damaged.safetensors" in rec.of("model_failed")[0][0]
    assert not session.has_model and session.model is None
    assert rec.names()[-1] == "model_changed" and rec.of("model_changed")[-1] == (None,)
