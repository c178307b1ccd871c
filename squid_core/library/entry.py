"""One model of the library, described by its file's metadata (no weights loaded)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Id of the bundled default model; never a user model's id.
BUNDLED_ID = "bundled-default"


@dataclass(frozen=True)
class ModelEntry:
    """A model file in the library and its JSON metadata (``docs/architecture.md``).

    ``id`` is stable for the life of the file (the file name's stem; renaming a
    model changes its display ``name``, not its id), so the active pointer and the
    viewer's settings can refer to it.
    """

    id: str
    path: Path
    bundled: bool
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.metadata.get("name") or self.path.stem)

    @property
    def version(self) -> str:
        return str(self.metadata.get("version") or "")

    @property
    def created(self) -> str:
        return str(self.metadata.get("created") or "")

    @property
    def software_version(self) -> str:
        return str(self.metadata.get("software_version") or "")

    @property
    def notes(self) -> str:
        return str(self.metadata.get("notes") or "")

    @property
    def training(self) -> dict[str, Any]:
        value = self.metadata.get("training")
        return value if isinstance(value, dict) else {}

    @property
    def metrics(self) -> dict[str, Any]:
        value = self.metadata.get("metrics")
        return value if isinstance(value, dict) else {}

    @property
    def calibration(self) -> dict[str, Any] | None:
        value = self.metadata.get("calibration")
        return value if isinstance(value, dict) else None

    @property
    def preset(self) -> str:
        """The training preset recorded by the trainer (``training.config.preset``), if any."""
        config = self.training.get("config")
        if isinstance(config, dict) and config.get("preset"):
            return str(config["preset"])
        return ""

    @property
    def size_bytes(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def data_summary(self) -> str:
        """One line on the data the model was trained on (the trainer's ``training`` record)."""
        t = self.training
        if not t:
            return "no training summary recorded"
        if t.get("source") == "reference-import":
            return "imported from the reference SQUID code"
        data = t.get("data") if isinstance(t.get("data"), dict) else {}
        parts: list[str] = []
        if data.get("n_train") is not None:
            parts.append(f"{data['n_train']} normal training images")
        if data.get("n_val_normal") or data.get("n_val_abnormal"):
            parts.append(f"validation {data.get('n_val_normal', 0)} normal / "
                         f"{data.get('n_val_abnormal', 0)} abnormal"
                         + (f" ({data['validation_source']})"
                            if data.get("validation_source") else ""))
        if t.get("epochs") is not None:
            parts.append(f"{t['epochs']} epochs")
        if self.preset:
            parts.append(f"preset {self.preset}")
        config = t.get("config") if isinstance(t.get("config"), dict) else {}
        if config.get("recipe"):
            parts.append(f"{config['recipe']} recipe")
        if t.get("fine_tuned_from"):
            parts.append(f"fine-tuned from {t['fine_tuned_from']}")
        return ", ".join(parts) if parts else "no training summary recorded"

    def metrics_summary(self) -> str:
        """One line with the validation metrics recorded in ``metadata["metrics"]``."""
        m = self.metrics
        val = m.get("validation") if isinstance(m.get("validation"), dict) else None
        if val is not None:
            auc = val.get("auc")
            text = "validation AUC " + (f"{auc:.3f}" if isinstance(auc, float) else "n/a")
            text += f" ({val.get('n_normal', 0)} normal, {val.get('n_abnormal', 0)} abnormal)"
            op = val.get("at_operating_point")
            if isinstance(op, dict) and isinstance(op.get("sensitivity"), float):
                text += (f"; at the operating point sensitivity {op['sensitivity']:.2f}, "
                         f"specificity {op.get('specificity', float('nan')):.2f}")
            return text
        scalars = [f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                   for k, v in sorted(m.items()) if isinstance(v, (int, float, str))]
        return ", ".join(scalars) if scalars else "no validation metrics recorded"
