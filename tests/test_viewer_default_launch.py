"""The README's first command, ``python main.py`` without a path: the viewer opens the
bundled demo studies with the bundled model and scores them.

Run in-process through the entry function ``main.py`` calls (``viewer.app.main``) with
no arguments, under pytest-qt's application; only the settings file is redirected to
``tmp_path`` so the user's own settings are neither read nor written, and the window
main() creates is recorded so that the test can drive it.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

import viewer.app as app_module
from viewer.main_window import MainWindow
from viewer.settings import AppSettings

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "resources" / "demo"
TIMEOUT_S = 120


class _Driver:
    """Polls the running app: waits for the first auto-analysed image, presses
    Analysis > Analyse all, waits until that analysis has finished, records what is
    shown, quits."""

    def __init__(self, app: QApplication, created: list[MainWindow]) -> None:
        self.app = app
        self.created = created  # the windows main() makes
        self.stage = "start"
        self.seen: dict = {}
        self.started = time.monotonic()
        QTimer.singleShot(50, self.step)

    def _window(self) -> MainWindow | None:
        return self.created[0] if self.created else None

    def step(self) -> None:
        window = self._window()
        if time.monotonic() - self.started > TIMEOUT_S:
            self.seen["timeout"] = self.stage
            if window is not None:
                self.seen["timeout"] += (
                    f": model {'loaded' if window.session.model else 'not loaded'}, "
                    f"{len(window.session.catalog.entries)} images, shown {window.session.key}, "
                    f"result {window.panes.result is not None}, runner busy "
                    f"{window.session.busy}, status {window.statusBar().currentMessage()!r}")
                window.close()
            self.app.exit(3)
            return
        if window is not None and self.stage == "start" and self._first_result_shown(window):
            self.seen["first"] = (window.session.key, window.panes.result)
            self.seen["model_info"] = window.session.model
            self.seen["bar_label"] = window.overlay.bar_label.text()
            self.seen["score_text"] = window.score_panel.score.text()
            self.seen["flag_text"] = window.score_panel.flag.text()
            window.analysisFinished.connect(
                lambda cancelled: self.seen.setdefault("analysed", not cancelled))
            window.actions_by_id["analyse_all"].trigger()
            self.stage = "analysing"
        elif (window is not None and self.stage == "analysing" and self.seen.get("analysed")
              and not window.session.busy):
            self.seen["entries"] = {Path(e.path).name: e.summary
                                    for e in window.session.catalog.entries.values()}
            self.seen["worklist"] = [Path(e.path).name for e in window.session.catalog.worklist()]
            window.close()
            window.deleteLater()
            self.app.exit(0)
            return
        QTimer.singleShot(50, self.step)

    @staticmethod
    def _first_result_shown(window: MainWindow) -> bool:
        return (window.session.model is not None and window.panes.result is not None
                and len(window.session.catalog.entries) >= 7)


def test_main_without_a_path_opens_the_demo_and_scores_it_with_the_bundled_model(
        qapp, monkeypatch, tmp_path, app_main_in_process, bundled_model) -> None:
    monkeypatch.setattr(app_module, "AppSettings",
                        lambda path=None: AppSettings(path or tmp_path / "user.ini"))
    created: list[MainWindow] = []
    monkeypatch.setattr(app_module, "MainWindow",
                        lambda settings: created.append(MainWindow(settings)) or created[-1])
    driver = _Driver(qapp, created)
    code = app_module.main([])
    assert "timeout" not in driver.seen, f"stuck at {driver.seen.get('timeout')}"
    assert code == 0
    # The bundled model was loaded, calibrated, with its heatmap statistics.
    info = driver.seen["model_info"]
    assert Path(info.path).resolve() == (ROOT / "resources/models/default.safetensors")
    assert info.name == bundled_model.name and info.version == bundled_model.version
    assert "sigma above normal" in driver.seen["bar_label"]
    # The first demo study was analysed on its own (auto-analyse) and its score shown.
    key, result = driver.seen["first"]
    assert Path(key).parent == DEMO and result.calibrated
    assert driver.seen["score_text"] == f"{result.score:.1f}"
    if result.needs_review:  # outside the training data or not applicable: never "no flag"
        assert "NEEDS REVIEW" in driver.seen["flag_text"]
    else:
        assert ("FLAGGED" in driver.seen["flag_text"]) == bool(result.flagged)
    # Analyse all scored every demo image; the ZhangLab normals are not flagged.
    demo_images = sorted(p.name for p in DEMO.iterdir() if p.suffix in (".dcm", ".png"))
    entries = driver.seen["entries"]
    assert sorted(entries) == demo_images
    assert all(summary is not None for summary in entries.values())
    threshold = next(p["threshold"] for p in bundled_model.metadata["operating_points"]
                     if p["name"] == bundled_model.metadata["default_operating_point"])
    for name, summary in entries.items():
        assert summary.model_name == bundled_model.name
        if name.startswith("zhanglab_"):  # in the training distribution: scored and flagged
            assert summary.flagged == (summary.score >= threshold), name
    assert not entries["zhanglab_normal_1.dcm"].flagged
    assert not entries["zhanglab_normal_2.dcm"].flagged
    # The worklist: flagged and needs-review images first, each part by score, most
    # suspicious first; nothing dropped.
    order = [entries[name] for name in driver.seen["worklist"]]
    urgent = [bool(e.flagged) or e.status != "scored" for e in order]
    assert urgent == sorted(urgent, reverse=True) and any(urgent) and not all(urgent)
    for part in (True, False):
        scores = [e.score for e, u in zip(order, urgent, strict=True) if u == part]
        assert scores == sorted(scores, reverse=True)
