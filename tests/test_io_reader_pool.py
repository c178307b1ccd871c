"""Images are decoded in helper processes; a decoder crash is an error, not a crash."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from squid_core.io import ImageReadError
from squid_core.io.reader_pool import ImageReader

DATA = Path(__file__).parent / "data"


def _die(_path: str) -> None:
    """Stands for a decoder that takes its process down (a segfault in C code)."""
    os._exit(3)


def test_helper_reads_and_survives_a_crashing_decoder() -> None:
    reader = ImageReader(workers=1)
    try:
        image, prepared = reader.read_prepared(DATA / "dicom" / "SIIM_CR_chest.dcm")
        assert image.pixels.shape == (1024, 1024) and image.meta.modality == "CR"
        assert np.array_equal(prepared.pixels, image.pixels)
        assert [p.name for p in prepared.presets][-3:] == ["Auto", "Lung", "Bone"]
        with pytest.raises(ImageReadError, match="crashed"):
            reader._call(_die, "hostile.dcm")
        again = reader.read(DATA / "images" / "TBX11K_h0001.png")  # a fresh helper
        assert again.pixels.ndim == 2
        with pytest.raises(ImageReadError):
            reader.read(DATA / "dicom" / "966.dcm")  # errors cross the process boundary
    finally:
        reader.shutdown()
