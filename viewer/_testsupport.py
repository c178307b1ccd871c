"""Test support for the viewer's pytest-qt tests (imported by ``tests/test_viewer_*.py``).

* :class:`ScriptedScorer` - a scorer with the ``squid_core.scoring.Scorer`` interface
  whose score is a fixed function of the image, optionally slow, for tests of the GUI
  logic (worklist order, cancel, no-freeze) that must not depend on model weights.
* :func:`tiny_model_file` - a real SQUID model file, small enough to build and run in
  seconds on a CPU, with calibration, operating points and measured heatmap statistics, for tests that go through ``squid_core.load_model`` and the real scorer.
* :func:`wait_for` - run the Qt event loop until a condition holds; :func:`poll`
  - the same without Qt.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def poll(condition: Callable[[], bool], timeout: float = 60.0, poll_s: float = 0.01) -> bool:
    """Check ``condition()`` every ``poll_s`` until it is true or ``timeout`` seconds pass
    (no Qt: for tests of the session and the node)."""
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        if condition():
            return True
        time.sleep(poll_s)
    return condition()


def wait_for(condition: Callable[[], bool], timeout: float = 20.0, poll_s: float = 0.005) -> bool:
    """Process Qt events until ``condition()`` is true or ``timeout`` seconds pass.

    Benchmarks pass a shorter ``poll_s`` so that the wait adds little to what they time.
    """
    from PySide6.QtWidgets import QApplication

    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        QApplication.processEvents()
        if condition():
            return True
        time.sleep(poll_s)
    QApplication.processEvents()
    return condition()


class ScriptedScorer:
    """Scores by a rule of the pixels (default: 100 x mean brightness), after ``delay``.

    The heatmap is the absolute difference from a blurred copy, in "sigma above normal"
    on a 0-6 scale, so overlays and exports have real content.
    """

    device = "cpu"

    def __init__(self, rule: Callable[[np.ndarray], float] | None = None, delay: float = 0.0,
                 threshold: float | None = 50.0,
                 applicability: dict[str, Any] | None = None) -> None:
        from types import SimpleNamespace

        #: What ``squid_core.scoring.analysis`` reads: the name, version and metadata
        #: (an ``applicability`` block, as a model file declares it; default: chest X-rays).
        self.model = SimpleNamespace(name="scripted", version="test",
                                     metadata={"applicability": applicability or {}})
        self.rule = rule or (lambda px: float(100.0 * px.mean()))
        self.delay = delay
        self.threshold = threshold
        self.calls = 0
        from squid_core.scoring.operating_point import OperatingPoint

        #: One point, as a model file would store it (None: a model without points).
        self.operating_point = (None if threshold is None else OperatingPoint(
            "balanced", threshold, "specificity >= 0.90", None, 0.9))
        self.operating_points = () if self.operating_point is None else (self.operating_point,)

    def score(self, pixels: np.ndarray) -> Any:
        """An ``AnalysisResult`` for ``pixels`` (H, W) in [0, 1]."""
        from squid_core.scoring.result import AnalysisResult

        t0 = time.perf_counter()
        if self.delay:
            time.sleep(self.delay)
        self.calls += 1
        px = np.asarray(pixels, dtype=np.float32)
        k = 5
        padded = np.pad(px, k, mode="edge")
        blur = np.zeros_like(px)
        for dy in range(-k, k + 1, k):
            for dx in range(-k, k + 1, k):
                blur += padded[k + dy:k + dy + px.shape[0], k + dx:k + dx + px.shape[1]]
        blur /= 9.0
        heat = np.abs(px - blur) * 40.0
        score = float(np.clip(self.rule(px), 0.0, 100.0))
        op = self.operating_point
        total = time.perf_counter() - t0
        return AnalysisResult(
            score=score, raw_logit=float((50.0 - score) / 10.0),
            operating_point=op,
            reconstruction=blur.astype(np.float32), heatmap=heat.astype(np.float32),
            heatmap_units="sigma above normal", heatmap_scale_max=6.0,
            model_name="scripted", model_version="test", device=self.device,
            timings={"preprocess": 0.0, "inference": total, "total": total})


def tiny_model_file(path: str | Path) -> Path:
    """Build, calibrate and save a small SQUID model (64 px, 0.56 M parameters); return its path.

    The metadata carries a fixed logit calibration (mu 0, sigma 1) and two operating
    points (balanced at 50, high sensitivity at 1) so that tests know which scores are
    flagged; the heatmap statistics are measured by ``squid_core``'s own calibration on
    eight seeded noise images, so the heatmap is in "sigma above normal" as with a
    trained model. A configuration the model code no longer accepts fails loudly.
    """
    import torch

    import squid_core
    from squid_core.model.config import SquidConfig
    from squid_core.scoring.calibration import calibrate
    from squid_core.training.finalize import attach_calibration

    config = SquidConfig(image_size=64, num_patch=2, level=3, features_root=8,
                         memory_channel=256, num_slots=20, mem_num_slots=20,
                         ops=("concat", "concat", "none"),
                         decoder_memory=(None, None, None), discriminator_size=4,
                         discriminator_channels=(8, 16, 16, 16))
    torch.manual_seed(0)
    model = squid_core.build_model(config)
    noise = torch.from_numpy(np.random.default_rng(0).random((8, 1, 64, 64), dtype=np.float32))
    attach_calibration(model, calibrate(model, [noise[:4], noise[4:]]))
    meta = model.metadata
    meta["name"] = "tiny-test"
    meta["version"] = "0.1"
    meta["calibration"] = {"mu": 0.0, "sigma": 1.0, "n_images": 10}
    meta["operating_points"] = [{"name": "balanced", "threshold": 50.0,
                                 "rule": "specificity >= 0.90", "sensitivity": None,
                                 "specificity": 0.9},
                                {"name": "high sensitivity", "threshold": 1.0,
                                 "rule": "sensitivity >= 0.95", "sensitivity": 0.95,
                                 "specificity": None}]
    meta["default_operating_point"] = "balanced"
    path = Path(path)
    model.save(path)
    return path


def make_window(qtbot: Any, tmp_path: Path) -> Any:
    """A shown MainWindow with settings in ``tmp_path`` (closed by qtbot at teardown)."""
    from viewer.main_window import MainWindow
    from viewer.settings import AppSettings

    settings = AppSettings(tmp_path / "settings.ini")
    fresh = settings.geometry is None
    window = MainWindow(settings)
    qtbot.addWidget(window)
    if fresh:
        window.resize(1400, 850)
    window.show()
    qtbot.waitExposed(window)
    return window


def open_and_wait(qtbot: Any, window: Any, path: str | Path, timeout: float = 30.0) -> str:
    """Open ``path`` and wait until it is shown ("shown") or rejected ("rejected")."""
    key = str(path)
    state: dict[str, str] = {}
    window.imageShown.connect(lambda k: state.setdefault("r", "shown") if k == key else None)
    window.imageFailed.connect(lambda k, _m: state.setdefault("r", "rejected")
                               if k == key else None)

    def settled() -> bool:
        if "r" in state:
            return True
        return any(str(r.path) == key for r in window.session.catalog.rejected)

    window.open_paths([path])
    assert wait_for(settled, timeout), f"{path} neither shown nor rejected in {timeout} s"
    return state.get("r", "rejected")


def analysed_window(qtbot: Any, tmp_path: Path, source: str | Path, score: float = 73.25) -> Any:
    """A shown MainWindow with a ScriptedScorer (constant ``score``) and ``source`` open
    and analysed: the starting point of the export tests."""
    window = make_window(qtbot, tmp_path)
    window.session.use_scorer(ScriptedScorer(rule=lambda _px: score))
    assert open_and_wait(qtbot, window, source) == "shown"
    assert wait_for(lambda: window.panes.result is not None)
    return window
