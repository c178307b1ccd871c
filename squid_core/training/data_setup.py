"""Assemble :class:`~squid_core.training.trainer.TrainingData` from folders or MNIST.

Shared by ``squid train`` and the GUI wizard, so both split, cache and count data
the same way. Folder data: normal training images, a validation split (a labelled
folder pair, or a deterministic hold-out of the normals plus optional abnormal
folders). DigitAnatomy: normal grids drawn on the fly from the MNIST training digits
and a labelled validation set generated once from a separate seed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from squid_core.io.file_finder import find_image_files
from squid_core.training.datasets import ImageSet, load_image_set
from squid_core.training.digit_anatomy import DigitSource, NormalGridStream, generate_test_set
from squid_core.training.patients import dicom_patient_id, patient_key
from squid_core.training.splits import split_validation, take_subset
from squid_core.training.trainer import TrainingData

__all__ = ["folder_training_data", "digit_training_data", "patient_groups"]


def _relative_keys(folders: Sequence[str | Path]) -> dict[str, Path]:
    """Image files under ``folders`` keyed by "<folder index>/<path inside the folder>".

    Splits are computed on these keys, so the same folder gives the same split wherever
    it is mounted or copied.
    """
    keys: dict[str, Path] = {}
    for i, folder in enumerate(map(Path, folders)):
        for f in find_image_files([folder]):
            rel = f.relative_to(folder).as_posix() if folder.is_dir() else f.name
            keys[f"{i}/{rel}"] = f
    return keys


def patient_groups(files: dict[str, Path]) -> dict[str, str]:
    """Split key -> patient key (DICOM PatientID, ZhangLab name), or the split key itself
    for a file that names no patient: such files split exactly as before grouping."""
    out = {}
    for k, f in files.items():
        key = patient_key(k, dicom_patient_id(f))
        out[k] = k if key.startswith("file:") else key
    return out


def folder_training_data(
    normal_dirs: Sequence[str | Path],
    size: tuple[int, int],
    *,
    val_normal_dirs: Sequence[str | Path] = (),
    val_abnormal_dirs: Sequence[str | Path] = (),
    val_fraction: float | None = None,
    val_count: int | None = None,
    val_max_abnormal: int | None = None,
    seed: int = 0,
    workers: int = 2,
    status: Callable[[str], None] = lambda _m: None,
) -> TrainingData:
    """Decode the folders once and split off validation images.

    Without ``val_normal_dirs``, ``val_fraction`` or ``val_count`` normals are held out
    of ``normal_dirs`` (deterministically, by name and seed, whole patients: no
    patient has images on both sides, see :mod:`squid_core.training.patients`);
    abnormal validation images come from ``val_abnormal_dirs`` (at most
    ``val_max_abnormal``).
    """
    normals = _relative_keys(normal_dirs)
    val_normals: list[Path] = find_image_files(val_normal_dirs) if val_normal_dirs else []
    n_patients = None
    if not val_normal_dirs and (val_fraction is not None or val_count is not None):
        groups = patient_groups(normals)
        train_keys, val_keys = split_validation(
            list(normals), fraction=val_fraction, count=val_count, seed=seed,
            group_of=groups.__getitem__,
        )
        n_patients = {"train": len({groups[k] for k in train_keys}),
                      "val": len({groups[k] for k in val_keys})}
        val_normals = [normals[k] for k in val_keys]
        normals = {k: normals[k] for k in train_keys}
    abnormal_keys = _relative_keys(val_abnormal_dirs)
    abnormals = [abnormal_keys[k] for k in take_subset(list(abnormal_keys), val_max_abnormal, seed)]
    status(f"decoding {len(normals)} training and {len(val_normals) + len(abnormals)} "
           f"validation files (once; later epochs read the cache)")
    train = load_image_set(sorted(normals.values()), size, 0, workers)
    parts = [load_image_set(val_normals, size, 0, workers),
             load_image_set(abnormals, size, 1, workers)]
    val = ImageSet.concat(parts) if (val_normals or abnormals) else None
    rejected = train.rejected + (val.rejected if val is not None else [])
    summary = {
        "kind": "folders",
        "normal_dirs": [str(d) for d in normal_dirs],
        "n_train": len(train),
        "n_val_normal": len(parts[0]),
        "n_val_abnormal": len(parts[1]),
        "n_rejected": len(rejected),
        "split": {"val_fraction": val_fraction, "val_count": val_count, "seed": seed,
                  "grouped_by": "patient", "n_patients": n_patients},
    }
    return TrainingData(train=train, val=val, rejected=rejected, summary=summary)


def digit_validation_set(
    source: DigitSource, n_normal: int, n_abnormal: int, seed: int
) -> ImageSet:
    """A labelled DigitAnatomy set generated in memory (anomaly types balanced)."""
    imgs, labels, names = [], [], []
    for name, img, label, _kind, _detail in generate_test_set(source, n_normal, n_abnormal, seed):
        imgs.append(img)
        labels.append(label)
        names.append(Path(name))
    arr = torch.from_numpy(np.stack(imgs)[:, None]).to(torch.float16)
    return ImageSet(arr, torch.tensor(labels, dtype=torch.long), names)


def digit_training_data(
    mnist_dir: str | Path,
    *,
    seed: int = 0,
    val_normal: int = 100,
    val_abnormal: int = 100,
) -> TrainingData:
    """On-the-fly normal grids from the MNIST training digits, plus a generated
    validation set from the same digits but its own seed (the fixed test set written by
    ``squid digitanatomy`` uses the held-out digits)."""
    source = DigitSource.from_dir(mnist_dir, part="train")
    stream = NormalGridStream(source, seed=seed)
    val = digit_validation_set(source, val_normal, val_abnormal, seed + 1_000_003)
    summary = {
        "kind": "digitanatomy",
        "mnist_dir": str(mnist_dir),
        "n_val_normal": val_normal,
        "n_val_abnormal": val_abnormal,
    }
    return TrainingData(stream=stream, val=val, summary=summary)
