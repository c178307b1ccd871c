"""Load a model file and build its scorer, with a plain description of the model.

What the viewer's Model > Open model file does: its main window calls :func:`load_scorer`
in a worker thread and shows the returned description (name, version, operating point,
calibration, heatmap scale, device) in the score panel and the overlay controls. No Qt.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from squid_core.scoring.scorer import Scorer


def load_scorer(path: str, device: str) -> tuple[Scorer, dict[str, Any]]:
    """Load a model file and build its scorer; returns (scorer, description dict).

    Slow (reads weights, prepares the inference copy): call it from a worker thread.
    Raises ``squid_core.model_file.ModelFileError`` for bad files and
    ``DeviceUnavailableError`` for a forced device this machine lacks. The viewer reads
    the description and operating points from this scorer; its images are scored by the
    analysis service's worker process, which loads (and may compile) its own copy.
    """
    import torch

    import squid_core
    from squid_core.scoring.scorer import Scorer

    # Leave one core to the rest of the process (an interface): inference on every core
    # makes a GUI thread wait for the CPU, however well the GIL is shared.
    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))

    model = squid_core.load_model(path, device="cpu")
    scorer = Scorer(model, device=device)
    meta = dict(getattr(model, "metadata", {}) or {})
    heatmap = meta.get("heatmap") or {}
    info = {
        "name": str(getattr(model, "name", meta.get("name", "model"))),
        "version": str(getattr(model, "version", meta.get("version", ""))),
        "operating_point": meta.get("default_operating_point") or "",
        "operating_points": [dict(op) for op in meta.get("operating_points") or []],
        "calibrated": meta.get("calibration") is not None,
        "heatmap_units": heatmap.get("units") or "",
        "heatmap_scale_max": heatmap.get("scale_max"),
        "path": str(path),
        "device": str(getattr(scorer, "device", device)),
        "compiled": False,
        "compile_error": None,
    }
    return scorer, info

