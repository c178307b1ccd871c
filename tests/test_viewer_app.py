"""The command line: ``python main.py --screenshot`` opens, analyses, saves, exits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from viewer._testsupport import DATA, tiny_model_file
from viewer.app import build_parser

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
    shot = np.asarray(Image.open(out).convert("RGB"))
    assert shot.shape[:2] == (800, 1280)
    # Dark theme: mostly dark pixels; and a score was drawn (red or green text somewhere).
    assert (shot.mean(axis=2) < 80).mean() > 0.5
    red = (shot[..., 0] > 180) & (shot[..., 1] < 120)
    green = (shot[..., 1] > 140) & (shot[..., 0] < 120)
    assert red.sum() + green.sum() > 50
