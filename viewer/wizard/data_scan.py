"""Scanning the wizard's data folders (no Qt; run off the GUI thread by the data page).

Files are found and checked with :func:`squid_core.io.scan`, the same scan the
study browser uses, so "readable" means the same thing in the wizard, the viewer
and training. A few images are decoded into small thumbnails so the user can see
that the folder holds what they think it holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from viewer.wizard.state import DataSummary, labelled_subfolders

THUMB_SIZE = 96
N_THUMBS = 8


def _scan(folders: Sequence[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    from squid_core.io import scan

    if not folders:
        return [], []
    result = scan([str(f) for f in folders])
    files = sorted({Path(inst.path) for inst in result.instances})
    rejected = [(Path(r.path), str(r.reason)) for r in result.rejected]
    return files, rejected


def thumbnail(path: Path, size: int = THUMB_SIZE) -> np.ndarray | None:
    """A (h, w) uint8 thumbnail whose longer side is ``size``, or ``None`` if unreadable."""
    from squid_core.io import ImageReadError, read_image

    try:
        px = np.asarray(read_image(path).pixels, dtype=np.float32)
    except (ImageReadError, OSError, ValueError):
        return None
    if px.ndim == 3:
        px = px[0]
    step = max(1, int(np.ceil(max(px.shape) / size)))
    small = px[::step, ::step]
    return np.clip(small * 255.0 + 0.5, 0, 255).astype(np.uint8)


def scan_data(
    normal_dirs: Sequence[Path], val_dir: Path | None, n_thumbs: int = N_THUMBS
) -> tuple[DataSummary, list[tuple[str, np.ndarray]]]:
    """Scan training and validation folders; return the summary and ``(name, thumb)`` pairs."""
    summary = DataSummary()
    summary.normal_files, rejected = _scan(list(normal_dirs))
    summary.rejected.extend(rejected)
    if val_dir is not None:
        v_norm, v_abn = labelled_subfolders(val_dir)
        if v_norm is not None:
            summary.val_normal_files, rej = _scan([v_norm])
            summary.rejected.extend(rej)
        if v_abn is not None:
            summary.val_abnormal_files, rej = _scan([v_abn])
            summary.rejected.extend(rej)
    thumbs: list[tuple[str, np.ndarray]] = []
    files = summary.normal_files
    picks = files if len(files) <= n_thumbs else [
        files[int(i)] for i in np.linspace(0, len(files) - 1, n_thumbs)
    ]
    for path in picks:
        img = thumbnail(path)
        if img is not None:
            thumbs.append((path.name, img))
    return summary, thumbs
