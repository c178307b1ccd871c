"""The viewer's overlay colours are squid_core's tables, the node's Secondary Capture's too.

That the heatmap pane shows exactly the SC overlay: tests/test_viewer_panes.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from squid_core.display import COLORMAPS, DEFAULT_COLORMAP, OverlaySettings, colormap_lut
from viewer.overlay_controls import OverlayControls
from viewer.settings import AppSettings


def test_colour_bar_and_overlay_use_the_shared_tables(qtbot) -> None:
    controls = OverlayControls()
    qtbot.addWidget(controls)
    assert controls.colormap.currentText() == DEFAULT_COLORMAP
    assert [controls.colormap.itemText(i) for i in range(controls.colormap.count())] \
        == list(COLORMAPS)
    for name in COLORMAPS:
        controls.colormap.setCurrentText(name)
        assert np.array_equal(controls.lut(), colormap_lut(name))
        bar = controls.bar.colorMap().getLookupTable(nPts=256, alpha=False)
        assert np.array_equal(np.asarray(bar, dtype=np.uint8), colormap_lut(name)), name


def test_a_colormap_this_version_lacks_falls_back_to_the_default(tmp_path) -> None:
    settings = AppSettings(tmp_path / "settings.ini")
    settings.overlay = OverlaySettings("CET-L3", 0.4, 3.0, True)  # an older version's choice
    settings.sync()
    again = AppSettings(tmp_path / "settings.ini").overlay
    assert again == OverlaySettings(DEFAULT_COLORMAP, 0.4, 3.0, True)
    with pytest.raises(ValueError, match="unknown colormap 'CET-L3'; choose one of inferno"):
        colormap_lut("CET-L3")
