"""The training worker's protocol pieces (no Qt, no training): jobs, events, commands."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from squid_core.training.callbacks import TrainingControl
from squid_core.training.worker_process import (
    EventStream,
    Job,
    listen_for_commands,
    png_base64,
    synthetic_anomalies,
)
from viewer.wizard.state import DataSummary, WizardState


def test_job_validation_names_the_problem() -> None:
    with pytest.raises(ValueError, match="unknown job keys"):
        Job.from_dict({"normal_dirs": ["a"], "epoch": 3})
    with pytest.raises(ValueError, match="normal_dirs"):
        Job.from_dict({"out_model": "m"})
    with pytest.raises(ValueError, match="out_model"):
        Job.from_dict({"normal_dirs": ["a"]})
    job = Job.from_dict({"normal_dirs": ["a"], "mode": "estimate"})
    assert job.mode == "estimate" and job.preset == "compact"


def test_wizard_state_job_round_trips_through_the_worker_job(tmp_path: Path) -> None:
    state = WizardState(normal_dirs=[tmp_path / "n"], run_dir=tmp_path / "run")
    state.data = DataSummary(normal_files=[tmp_path / "n" / "a.png"])
    job = Job.from_dict(state.job(resume=True))
    assert job.resume and job.val_normal_dir is None
    assert job.out_model == str(tmp_path / "run" / "model.safetensors")


def test_events_are_one_json_object_per_line() -> None:
    buf = io.StringIO()
    events = EventStream(buf)
    events.emit("progress", losses={"d": np.float32(0.5)}, step=np.int64(3))
    events.emit("status", message="two\nlines")
    lines = buf.getvalue().splitlines()
    assert [json.loads(x)["event"] for x in lines] == ["progress", "status"]
    assert json.loads(lines[0])["losses"] == {"d": 0.5}


def test_commands_drive_the_control_and_eof_cancels() -> None:
    control = TrainingControl()
    buf = io.StringIO()
    thread = listen_for_commands(io.StringIO("pause\n"), control, EventStream(buf))
    thread.join(2)
    # end of input after "pause": the viewer went away, so the run is cancelled
    assert control.cancelled
    assert [json.loads(x)["event"] for x in buf.getvalue().splitlines()][0] == "paused"
    control = TrainingControl()
    thread = listen_for_commands(io.StringIO('pause\n{"command": "resume"}\n'), control,
                                 EventStream(io.StringIO()))
    thread.join(2)
    assert not control.paused


def test_synthetic_anomalies_are_local_and_deterministic() -> None:
    rng = np.random.default_rng(1)
    images = rng.uniform(0.2, 0.6, (4, 1, 64, 64)).astype(np.float32)
    a = synthetic_anomalies(images, seed=3)
    assert np.array_equal(a, synthetic_anomalies(images, seed=3))
    changed = np.abs(a - images).reshape(4, -1).max(axis=1) > 0
    assert changed.all()
    frac = (np.abs(a - images) > 1e-6).reshape(4, -1).mean(axis=1)
    assert (frac < 0.25).all(), "a lesion, not a whole new image"
    assert a.min() >= 0.0 and a.max() <= 1.0


def test_png_samples_round_trip() -> None:
    from viewer.wizard.train_page import decode_png

    img = np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32)
    back = decode_png(png_base64(img))
    assert back.shape == (32, 32) and np.abs(back - img).max() <= 1 / 255 + 1e-6


def test_a_bad_job_ends_with_an_error_event(tmp_path: Path) -> None:
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"normal_dirs": [str(tmp_path)], "bogus": 1}))
    proc = subprocess.run([sys.executable, "-m", "squid_core.training.worker_process", str(job)],
                          input="", capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[1])
    events = [json.loads(x) for x in proc.stdout.splitlines()]
    assert proc.returncode == 1
    assert [e["event"] for e in events] == ["hello", "error"]
    assert "unknown job keys" in events[-1]["message"]
