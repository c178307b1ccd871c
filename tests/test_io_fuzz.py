"""Fuzzing: mutated real DICOM / PNG / JPEG bytes only ever raise ImageReadError.

Hypothesis picks a real file from ``tests/data`` and a short list of
mutations (overwrite, flip, insert, delete, truncate, or an extreme 16/32-bit
integer, which is how lengths, rows and columns go wrong), biased towards the
header where the parsers make their decisions. ``read_image`` must return a
valid image or raise :class:`ImageReadError`; ``scan`` must never raise.
``bench/fuzz_io.py`` runs the same idea for any number of cases with a
per-case timeout and memory figures.
"""

from __future__ import annotations

import struct
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_io_helpers import DICOM, IMAGES

from squid_core.io import ImageReadError, read_image, scan

SOURCES = [
    DICOM / "MR_small_RLE.dcm",
    DICOM / "MR_small_jp2klossless.dcm",
    DICOM / "emri_small_jpeg_ls_lossless.dcm",
    DICOM / "dicomdir_CR1_6154.dcm",
    DICOM / "JPEGBaseline_1s_1f_u_08_08.dcm",
    DICOM / "SC_rgb_rle_2frame.dcm",
    DICOM / "OBXXXX1A_rle_2frame.dcm",
    DICOM / "dx_image.dcm",
    DICOM / "rtplan.dcm",
    DICOM / "mlut_18.dcm",
    DICOM / "vlut_04.dcm",
    IMAGES / "zhanglab_NORMAL_IM-0115-0001.jpeg",
    IMAGES / "NIH_00027426_palette.png",
    IMAGES / "RG1_chest_16bit.png",
]
_BYTES = {p: p.read_bytes() for p in SOURCES}
EXTREMES = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF]

mutation = st.tuples(
    st.sampled_from(["overwrite", "flip", "insert", "delete", "truncate", "int16", "int32"]),
    st.floats(0.0, 1.0),
    st.booleans(),  # position inside the first 2 kB (the header) or anywhere
    st.binary(min_size=1, max_size=16),
    st.sampled_from(EXTREMES),
)


def apply_mutation(
    data: bytes, op: str, where: float, header: bool, blob: bytes, extreme: int
) -> bytes:
    """One mutation of ``data`` (see the module docstring)."""
    if not data:
        return blob
    span = min(len(data), 2048) if header else len(data)
    pos = min(int(where * span), len(data) - 1)
    buf = bytearray(data)
    if op == "overwrite":
        buf[pos : pos + len(blob)] = blob
    elif op == "flip":
        buf[pos] ^= 1 << (blob[0] % 8)
    elif op == "insert":
        buf[pos:pos] = blob * (1 + blob[0] % 64)
    elif op == "delete":
        del buf[pos : pos + 1 + blob[0] * 4]
    elif op == "truncate":
        del buf[pos:]
    elif op == "int16":
        buf[pos : pos + 2] = struct.pack("<H", extreme & 0xFFFF)
    else:
        buf[pos : pos + 4] = struct.pack("<I", extreme)
    return bytes(buf)


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(source=st.sampled_from(SOURCES), mutations=st.lists(mutation, min_size=1, max_size=4))
def test_mutated_files_read_or_raise_image_read_error(source, mutations):
    data = _BYTES[source]
    for m in mutations:
        data = apply_mutation(data, *m)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("case" + source.suffix)
        path.write_bytes(data)
        try:
            img = read_image(path)
        except ImageReadError as exc:
            assert str(exc)
        else:
            assert img.pixels.dtype == np.float32 and img.pixels.shape == img.values.shape
            assert np.isfinite(img.pixels).all()
            assert img.pixels.min() >= 0.0 and img.pixels.max() <= 1.0
        result = scan(Path(tmp))  # must never raise
        assert len(result.instances) + len(result.rejected) == 1
