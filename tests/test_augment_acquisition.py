"""The acquisition augmentation recipe (one seed measured: docs/robustness.md) and its selection
from ``squid train``, on a real radiograph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import squid_core
from squid_core.io import read_image
from squid_core.scoring.nuisance import zoom_out
from squid_core.training.augment import acquisition_augment, augment_batch, random_affine
from squid_core.training.config import TrainConfig

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def chests() -> torch.Tensor:
    px = read_image(DATA / "zhanglab_val" / "normal" / "IM-0358-0001.jpeg").frame(0)
    return torch.from_numpy(np.ascontiguousarray(px)).float()[None, None].repeat(64, 1, 1, 1)


def test_acquisition_augment_varies_each_image_within_range_and_is_seeded(chests):
    y = acquisition_augment(chests, torch.Generator().manual_seed(0))
    again = acquisition_augment(chests, torch.Generator().manual_seed(0))
    assert y.shape == chests.shape and torch.equal(y, again)
    assert 0.0 <= float(y.min()) and float(y.max()) <= 1.0
    means = y.mean(dim=(1, 2, 3))
    assert float(means.std()) > 0.02  # exposure differs from image to image
    # spans well beyond the paper's affine: mean brightness moves both ways
    base = float(chests[0].mean())
    assert float(means.min()) < base - 0.05 and float(means.max()) > base + 0.05


def test_zoom_out_fills_with_the_edge_not_black(chests):
    """With only the zoom drawn (others at identity), a zoom-out looks like the
    nuisance of the same name: edge pixels replicated, no zero border."""
    from squid_core.training import augment

    old = dict(augment.ACQUISITION_RANGES)
    try:
        augment.ACQUISITION_RANGES.update(zoom=(1 / 1.25, 1 / 1.25), translate=0.0,
                                          gamma=(1.0, 1.0), contrast=(1.0, 1.0),
                                          sharpness=(0.0, 0.0), noise=(0.0, 0.0))
        y = acquisition_augment(chests[:1])[0, 0].numpy()
    finally:
        augment.ACQUISITION_RANGES.clear()
        augment.ACQUISITION_RANGES.update(old)
    expected = zoom_out(chests[0, 0].numpy(), 1.25)
    assert float(np.abs(y - expected).mean()) < 0.02
    assert float(y[0].mean()) > 0.05  # top row: replicated anatomy, not zeros
    paper = random_affine(chests[:1], 0.0, (0.8, 0.8))[0, 0].numpy()
    assert float(paper[0].mean()) == 0.0  # the paper recipe's zero fill, for contrast


def test_recipes_are_selected_by_name(chests):
    torch.manual_seed(1)
    a = augment_batch(chests[:4], "paper")
    torch.manual_seed(1)
    assert torch.equal(a, random_affine(chests[:4]))
    torch.manual_seed(1)
    b = augment_batch(chests[:4], "acquisition")
    torch.manual_seed(1)
    assert torch.equal(b, acquisition_augment(chests[:4]))
    with pytest.raises(ValueError, match="unknown augmentation recipe 'wide'"):
        augment_batch(chests[:1], "wide")
    assert TrainConfig().augment_recipe == "paper"  # the default until a measured win
    assert TrainConfig.from_dict({"epochs": 3}).augment_recipe == "paper"  # older checkpoints


def test_squid_train_trains_with_the_acquisition_recipe(tmp_path, monkeypatch):
    from test_training_helpers import write_pngs

    from squid_core.cli import main
    from squid_core.training import trainer

    used: list[str] = []

    def spy(x, recipe, *args):
        used.append(recipe)
        return augment_batch(x, recipe, *args)

    monkeypatch.setattr(trainer, "augment_batch", spy)

    normal = write_pngs(tmp_path / "normal", 8, seed=0)
    out = tmp_path / "m.safetensors"
    rc = main(["train", "--preset", "compact", "--normal", str(normal), "--val-count", "2",
               "--augment", "acquisition", "--epochs", "1", "--max-steps", "1",
               "--batch-size", "4", "--device", "cpu", "--quiet", "--threads", "1",
               "--out", str(out)])
    assert rc == 0
    cfg = squid_core.load_model(out).metadata["training"]["config"]
    assert cfg["augment"] is True and cfg["augment_recipe"] == "acquisition"
    assert used and set(used) == {"acquisition"}  # the batches went through it
    rc = main(["train", "--preset", "compact", "--normal", str(normal), "--val-count", "2",
               "--augment", "none", "--epochs", "1", "--max-steps", "1", "--batch-size", "4",
               "--device", "cpu", "--quiet", "--threads", "1", "--out", str(out)])
    assert rc == 0 and squid_core.load_model(out).metadata["training"]["config"]["augment"] is False
