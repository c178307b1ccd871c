"""The command line: ``python main.py --screenshot`` opens, analyses, saves, exits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QPoint

import viewer.app as app_module
from viewer._testsupport import DATA, tiny_model_file
from viewer.app import build_parser
from viewer.main_window import MainWindow
from viewer.theme import FLAG, OK

ROOT = Path(__file__).resolve().parent.parent


def test_parser_defaults() -> None:
    args = build_parser().parse_args(["a.dcm", "--device", "cpu"])
    assert args.paths == ["a.dcm"] and args.device == "cpu" and args.screenshot is None


def test_screenshot_mode_analyses_and_writes_the_window(tmp_path) -> None:
    model = tiny_model_file(tmp_path / "tiny.safetensors")
    out = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run(
        [sys.executable, "main.py", "--model", str(model), "--device", "cpu",
         "--screenshot", str(out), "--size", "1280x800",
         str(DATA / "images" / "TBX11K_h0001.png")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"screenshot: {out}" in proc.stdout
    shot = np.asarray(Image.open(out).convert("RGB"))
    assert shot.shape[:2] == (800, 1280)
    assert (shot.mean(axis=2) < 80).mean() > 0.5  # dark theme: mostly dark pixels


def _rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])


def test_screenshot_shows_the_score_in_its_flag_colour(qapp, tmp_path, app_main_in_process,
                                                       monkeypatch) -> None:
    """The same run in-process, so the picture can be checked where the score is drawn:
    the score label's area of the saved PNG holds its digits in the flag's colour."""
    model = tiny_model_file(tmp_path / "tiny.safetensors")
    out = tmp_path / "shot.png"
    created: list[MainWindow] = []
    monkeypatch.setattr(app_module, "MainWindow",
                        lambda settings: created.append(MainWindow(settings)) or created[-1])
    code = app_module.main(["--model", str(model), "--device", "cpu", "--screenshot", str(out),
                            "--size", "1280x800", str(DATA / "images" / "TBX11K_h0001.png")])
    assert code == 0
    [window] = created
    window.deleteLater()
    result = window.panes.result
    assert result is not None and result.model_name == "tiny-test"
    label = window.score_panel.score
    assert label.text() == f"{result.score:.1f}"
    corner = label.mapTo(window, QPoint(0, 0))
    shot = np.asarray(Image.open(out).convert("RGB")).astype(int)
    area = shot[corner.y():corner.y() + label.height(), corner.x():corner.x() + label.width()]
    drawn, other = (FLAG, OK) if result.flagged else (OK, FLAG)
    near = lambda colour: (np.abs(area - _rgb(colour)).sum(axis=2) < 60).sum()  # noqa: E731
    assert near(drawn) > 40 and near(other) == 0
