"""What the wizard's pages hand to each other, as plain data (no Qt).

Each page fills its part of :class:`WizardState`; later pages read it. Keeping it
out of the widgets lets the data checks be tested without a window and keeps the
job sent to the training process one explicit dictionary (:meth:`WizardState.job`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from squid_core.training.recipes import DEFAULT_RECIPE

#: Fewer normal images than this gets a warning on the data page.
MIN_RECOMMENDED_IMAGES = 50
#: Below this the wizard refuses to train: too few for even one batch and a split.
MIN_IMAGES = 8
#: Names of the labelled validation sub-folders (case-insensitive).
NORMAL_NAMES = ("normal",)
ABNORMAL_NAMES = ("abnormal", "anomalous", "anomaly")


def labelled_subfolders(folder: Path) -> tuple[Path | None, Path | None]:
    """The ``normal`` and ``abnormal`` sub-folders of a labelled validation folder."""
    normal = abnormal = None
    if folder.is_dir():
        for child in sorted(folder.iterdir()):
            if not child.is_dir():
                continue
            low = child.name.lower()
            if low in NORMAL_NAMES and normal is None:
                normal = child
            elif low in ABNORMAL_NAMES and abnormal is None:
                abnormal = child
    return normal, abnormal


@dataclass
class DataSummary:
    """Result of scanning the chosen folders: readable files and rejected ones."""

    normal_files: list[Path] = field(default_factory=list)
    val_normal_files: list[Path] = field(default_factory=list)
    val_abnormal_files: list[Path] = field(default_factory=list)
    rejected: list[tuple[Path, str]] = field(default_factory=list)

    def warnings(self, has_val_folder: bool) -> list[str]:
        """Plain-language warnings about the amount and kind of data."""
        out: list[str] = []
        n = len(self.normal_files)
        if n == 0:
            out.append("No readable normal images: add a folder of normal studies.")
        elif n < MIN_IMAGES:
            out.append(f"Only {n} normal images: at least {MIN_IMAGES} are needed to train.")
        elif n < MIN_RECOMMENDED_IMAGES:
            out.append(
                f"Only {n} normal images. SQUID learns what normal looks like from these; "
                f"{MIN_RECOMMENDED_IMAGES} is a bare minimum and several hundred give a "
                "useful model."
            )
        if has_val_folder:
            if not self.val_normal_files or not self.val_abnormal_files:
                out.append(
                    "The validation folder needs both a 'normal' and an 'abnormal' sub-folder "
                    "with images; without them, part of the normal images is held out and "
                    "synthetic anomalies are used to validate."
                )
        else:
            out.append(
                "No labelled validation folder: 10% of the normal images are held out, and "
                "the ROC curve uses synthetic anomalies, which only approximate real disease."
            )
        if self.rejected:
            out.append(f"{len(self.rejected)} files cannot be read and will be skipped.")
        return out

    def can_train(self) -> bool:
        return len(self.normal_files) >= MIN_IMAGES


@dataclass
class TrainSettings:
    """Choices of the settings page."""

    init_model: Path | None = None  # fine-tune from this model file; None = from scratch
    init_model_name: str = ""
    preset: str = "compact"
    recipe: str = DEFAULT_RECIPE  # squid_core.training.recipes
    epochs: int = 10
    device: str = "auto"
    max_steps: int | None = None  # cap on training steps (a quick trial); None = no cap
    batch_size: int | None = None  # None = the preset's
    threads: int | None = None  # CPU threads for training; None = torch's default


@dataclass
class WizardState:
    """Everything the pages share during one wizard session."""

    normal_dirs: list[Path] = field(default_factory=list)
    val_dir: Path | None = None
    data: DataSummary = field(default_factory=DataSummary)
    settings: TrainSettings = field(default_factory=TrainSettings)
    run_dir: Path | None = None
    model_path: Path | None = None  # the trained model file, once training has finished
    validation: dict[str, Any] | None = None  # the worker's "validation" event
    operating_point: dict[str, Any] | None = None  # chosen on the validation page

    def val_folders(self) -> tuple[Path | None, Path | None]:
        if self.val_dir is None:
            return None, None
        return labelled_subfolders(self.val_dir)

    def job(self, mode: str = "train", resume: bool = False) -> dict[str, Any]:
        """The JSON job for ``squid_core.training.worker_process``."""
        if self.run_dir is None:
            raise ValueError("no run folder chosen")
        val_normal, val_abnormal = self.val_folders()
        use_val = bool(self.data.val_normal_files and self.data.val_abnormal_files)
        s = self.settings
        return {
            "mode": mode,
            "normal_dirs": [str(p) for p in self.normal_dirs],
            "val_normal_dir": str(val_normal) if use_val and val_normal else None,
            "val_abnormal_dir": str(val_abnormal) if use_val and val_abnormal else None,
            "preset": s.preset,
            "recipe": s.recipe,
            "epochs": s.epochs,
            "max_steps": s.max_steps,
            "batch_size": s.batch_size,
            "device": s.device,
            "threads": s.threads,
            "init_model": str(s.init_model) if s.init_model else None,
            "out_model": str(self.run_dir / "model.safetensors"),
            "checkpoint_dir": str(self.run_dir / "checkpoints"),
            "resume": resume,
        }
