"""Folder data sets: decoded once, unreadable files skipped and listed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_training_helpers import write_pngs

from squid_core.io import find_image_files
from squid_core.training.augment import random_affine
from squid_core.training.data_setup import folder_training_data
from squid_core.training.datasets import load_image_set, to_model_input


def test_unreadable_files_are_skipped_and_listed(tmp_path):
    folder = write_pngs(tmp_path / "n", 3, seed=0)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (folder / "notes.txt").write_text("not an image")  # not an image by name or content: not listed
    (folder / ".hidden.png").write_bytes(b"x")
    files = find_image_files([folder])
    assert [f.name for f in files] == ["broken.png", "n000.png", "n001.png", "n002.png"]
    s = load_image_set(files, (32, 32))
    assert len(s) == 3 and s.images.dtype == torch.float16 and s.images.shape == (3, 1, 32, 32)
    assert [r.path.name for r in s.rejected] == ["broken.png"] and s.rejected[0].reason
    assert 0.0 <= float(s.images.min()) and float(s.images.max()) <= 1.0


def test_folder_data_split_and_labels(tmp_path):
    normal = write_pngs(tmp_path / "normal", 10, seed=0)
    abnormal = write_pngs(tmp_path / "abn", 6, seed=1, abnormal=True)
    data = folder_training_data([normal], (32, 32), val_abnormal_dirs=[abnormal],
                                val_count=3, val_max_abnormal=4, seed=0)
    assert len(data.train) == 7 and len(data.val) == 7
    assert data.val.labels.tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert not set(data.train.paths) & set(data.val.paths)
    again = folder_training_data([normal], (32, 32), val_count=3, seed=0)
    assert again.train.paths == data.train.paths
    # The split depends on paths inside the folder, not on where the folder is.
    moved = normal.rename(tmp_path / "elsewhere")
    third = folder_training_data([moved], (32, 32), val_count=3, seed=0)
    assert [p.name for p in third.train.paths] == [p.name for p in data.train.paths]


def test_to_model_input_handles_colour_and_refuses_frames():
    """The frame is chosen before (scoring_frame), never here."""
    assert to_model_input(np.ones((50, 60, 3)), (32, 32)).shape == (32, 32)
    with pytest.raises(ValueError, match="2-D"):
        to_model_input(np.ones((2, 50, 60)), (32, 32))


def test_random_affine_is_small_and_seeded():
    x = torch.zeros(4, 1, 32, 32)
    x[:, :, 8:24, 8:24] = 1
    g = torch.Generator().manual_seed(0)
    y = random_affine(x, generator=g)
    y2 = random_affine(x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(y, y2) and y.shape == x.shape
    assert (y - x).abs().mean() < 0.1  # at most a few pixels of shift / 5% zoom
    assert random_affine(x, translate=0.0, scale_range=(1.0, 1.0)).allclose(x, atol=1e-5)
