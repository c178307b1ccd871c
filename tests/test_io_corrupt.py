"""Unreadable input of every kind raises ImageReadError, and nothing else."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from test_io_helpers import DICOM, IMAGES

from squid_core.io import ImageReadError, read_image

ROOT = Path(__file__).resolve().parent.parent

SOURCES = [
    DICOM / "SIIM_CR_chest.dcm",
    DICOM / "MR_small_RLE.dcm",
    DICOM / "emri_small_jpeg_ls_lossless.dcm",
    DICOM / "MR_small_jp2klossless.dcm",
    DICOM / "dicomdir_CR1_6154.dcm",
    IMAGES / "NIH_00027426_000.png",
    IMAGES / "zhanglab_NORMAL_IM-0115-0001.jpeg",
]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
@pytest.mark.parametrize("fraction", [0.01, 0.1, 0.3, 0.5, 0.9, 0.99])
def test_truncated_files(tmp_path, source, fraction):
    data = source.read_bytes()
    path = tmp_path / source.name
    path.write_bytes(data[: max(1, int(len(data) * fraction))])
    with pytest.raises(ImageReadError):
        read_image(path)


def test_truncated_uncompressed_dicom_says_truncated(tmp_path):
    data = (DICOM / "dicomdir_CR1_6154.dcm").read_bytes()
    (tmp_path / "t.dcm").write_bytes(data[:-100])
    with pytest.raises(ImageReadError, match="truncated"):
        read_image(tmp_path / "t.dcm")


@pytest.mark.parametrize("seed", range(5))
def test_random_bytes(tmp_path, seed):
    rng = np.random.default_rng(seed)
    path = tmp_path / "noise.dcm"
    path.write_bytes(rng.integers(0, 256, size=5000, dtype=np.uint8).tobytes())
    with pytest.raises(ImageReadError):
        read_image(path)


@pytest.mark.parametrize(
    "magic", [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"II*\x00", b"\0" * 128 + b"DICM"]
)
def test_magic_followed_by_garbage(tmp_path, magic):
    path = tmp_path / "garbage"
    path.write_bytes(magic + os.urandom(3000))
    with pytest.raises(ImageReadError):
        read_image(path)


def test_empty_file(tmp_path):
    (tmp_path / "empty.dcm").write_bytes(b"")
    with pytest.raises(ImageReadError, match="empty"):
        read_image(tmp_path / "empty.dcm")


def test_directory(tmp_path):
    with pytest.raises(ImageReadError, match="folder"):
        read_image(tmp_path)


def test_missing_file(tmp_path):
    with pytest.raises(ImageReadError, match="not found"):
        read_image(tmp_path / "nope.dcm")


#: Run in a child process: read one file, print "ok" or the ImageReadError's message.
_READ_ONE = """
import sys
from squid_core.io import ImageReadError, read_image
try:
    print("ok", read_image(sys.argv[1]).pixels.shape)
except ImageReadError as exc:
    print("ImageReadError:", exc)
"""


def _read_without_root_privileges(path) -> str:
    """Read ``path`` in a child process as root minus the capabilities that let root read
    any file (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH): what the child prints."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("root cannot drop its file-read capabilities without setpriv (util-linux)")
    drop = "-dac_override,-dac_read_search"
    proc = subprocess.run([setpriv, f"--bounding-set={drop}", f"--inh-caps={drop}",
                           sys.executable, "-c", _READ_ONE, str(path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes only")
def test_permission_denied(tmp_path):
    path = tmp_path / "secret.png"
    path.write_bytes((IMAGES / "NIH_00027426_000.png").read_bytes())
    path.chmod(0)
    if os.geteuid() != 0:
        with pytest.raises(ImageReadError, match="permission denied"):
            read_image(path)
        return
    # Root reads anything: the read runs where the file mode applies (as in CI's container).
    assert "ImageReadError:" in (out := _read_without_root_privileges(path))
    assert "permission denied" in out
    path.chmod(0o644)  # the same child reads the file once its mode allows it
    assert _read_without_root_privileges(path).startswith("ok")


def test_text_file(tmp_path):
    (tmp_path / "notes.txt").write_text("hello, not an image\n")
    with pytest.raises(ImageReadError, match="not an image"):
        read_image(tmp_path / "notes.txt")


def _with(path_in, path_out, **changes):
    ds = pydicom.dcmread(path_in)
    for key, value in changes.items():
        setattr(ds, key, value)
    ds.save_as(path_out)
    return path_out


@pytest.mark.parametrize(
    "changes",
    [
        {"Rows": 65535, "Columns": 65535, "NumberOfFrames": 1000},
        {"Rows": 65535, "Columns": 65535},
        {"Rows": 30000, "Columns": 30000},
    ],
)
def test_absurd_declared_size_refused_before_allocation(tmp_path, changes):
    path = _with(DICOM / "MR_small_RLE.dcm", tmp_path / "huge.dcm", **changes)
    with pytest.raises(ImageReadError, match="image too large"):
        read_image(path)


def test_large_declared_size_with_tiny_compressed_data_refused(tmp_path):
    path = _with(DICOM / "SIIM_CR_chest.dcm", tmp_path / "big.dcm", Rows=16000, Columns=16000)
    with pytest.raises(ImageReadError, match="image too large"):
        read_image(path)


def test_uncompressed_size_mismatch_is_truncation(tmp_path):
    path = _with(DICOM / "dicomdir_CR1_6154.dcm", tmp_path / "m.dcm", Rows=64)
    with pytest.raises(ImageReadError, match="truncated"):
        read_image(path)


@pytest.mark.parametrize(
    "changes",
    [
        {"BitsAllocated": 7},
        {"SamplesPerPixel": 0},
        {"Rows": 0},
        {"PhotometricInterpretation": "NONSENSE"},
    ],
)
def test_damaged_image_pixel_attributes(tmp_path, changes):
    path = _with(DICOM / "MR_small_RLE.dcm", tmp_path / "bad.dcm", **changes)
    try:
        img = read_image(path)
    except ImageReadError:
        return
    assert 0 <= img.pixels.min() and img.pixels.max() <= 1


def test_missing_decoder_message(tmp_path, monkeypatch):
    from pydicom.pixels.decoders.base import Decoder

    monkeypatch.setattr(Decoder, "is_available", property(lambda self: False))
    with pytest.raises(
        ImageReadError, match="JPEG 2000 decoder missing: install pylibjpeg-openjpeg"
    ):
        read_image(DICOM / "MR_small_jp2klossless.dcm")


def test_unsupported_transfer_syntax(tmp_path):
    ds = pydicom.dcmread(DICOM / "MR_small_RLE.dcm")
    ds.file_meta.TransferSyntaxUID = "1.2.3.4.5"
    ds.save_as(tmp_path / "odd.dcm")
    with pytest.raises(ImageReadError, match="unsupported transfer syntax"):
        read_image(tmp_path / "odd.dcm")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_named_pipe_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.dcm"
    os.mkfifo(fifo)
    with pytest.raises(ImageReadError, match="not a regular file"):
        read_image(fifo)
