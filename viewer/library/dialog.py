"""The model library dialog: list, inspect, import, export, activate, rename, delete.

A thin view over :class:`squid_core.library.ModelLibrary`: every operation is one
library call, and every refusal (a bad file, deleting the bundled model) is shown
in the dialog as the library's own message, without a blocking pop-up. Each
operation has a method taking explicit arguments (used by the buttons after their
file dialogs, and by tests).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from squid_core.library import LibraryError, ModelEntry, ModelLibrary

MODEL_FILTER = "SQUID model (*.safetensors)"
CHECKPOINT_FILTER = "Reference checkpoint (*.pth *.pt *.safetensors)"


def describe(entry: ModelEntry, active: bool) -> str:
    """HTML details of one model for the side panel."""
    e = html.escape
    rows: list[tuple[str, str]] = [
        ("Name", entry.name + ("  (active)" if active else "")),
        ("Kind", "bundled default (read-only)" if entry.bundled else "user model"),
        ("Version", entry.version or "—"),
        ("Created", entry.created or "—"),
        ("Software", entry.software_version or "—"),
        ("Training data", entry.data_summary()),
        ("Validation", entry.metrics_summary()),
    ]
    cal = entry.calibration
    rows.append(("Calibration", f"mu {cal['mu']:.4g}, sigma {cal['sigma']:.3g} over "
                 f"{cal.get('n_images', '?')} normal images" if cal else "not calibrated"))
    default = entry.metadata.get("default_operating_point")
    for op in entry.metadata.get("operating_points") or []:
        mark = " (in use)" if op.get("name") == default else ""
        rates = ", ".join(f"{k} {op[k]:.2f}" for k in ("sensitivity", "specificity")
                          if isinstance(op.get(k), (int, float)))
        rows.append((f"Operating point{mark}",
                     f"{op.get('name')}: flag at score ≥ {op.get('threshold', 0):.1f}"
                     + (f" ({rates})" if rates else "")))
    if entry.notes:
        rows.append(("Notes", entry.notes))
    rows.append(("File", f"{entry.path} ({entry.size_bytes / 1e6:.1f} MB)"))
    body = "".join(f"<tr><td style='color:#a0a4aa;padding-right:10px' valign='top'>{e(k)}</td>"
                   f"<td>{e(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _short_auc(entry: ModelEntry) -> str:
    """``"AUC 0.812"`` from the validation metrics, or a dash."""
    val = entry.metrics.get("validation")
    auc = val.get("auc") if isinstance(val, dict) else None
    return f"AUC {auc:.3f}" if isinstance(auc, (int, float)) else "—"


class ModelLibraryDialog(QDialog):
    """Browse and manage the model library.

    Signals:
        activeModelChanged(str): path of the new active model, whenever it changes
            (activate, or deleting the active model, which falls back to the
            bundled default; an empty string when no model is left).
    """

    activeModelChanged = Signal(str)  # noqa: N815 (Qt signal naming)

    def __init__(self, library: ModelLibrary, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.entries: list[ModelEntry] = []
        self.setWindowTitle("Model library")
        self.resize(1040, 560)

        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["", "Name", "Created", "Validation"])
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(lambda _i: self.activate_selected())
        self.details = QTextBrowser()
        self.message = QLabel()
        self.message.setWordWrap(True)

        self.buttons: dict[str, QPushButton] = {}
        actions: list[tuple[str, str, Callable[[], Any]]] = [
            ("activate", "Activate", self.activate_selected),
            ("import", "Import model file…", self._import_clicked),
            ("reference", "Import reference checkpoint…", self._reference_clicked),
            ("export", "Export…", self._export_clicked),
            ("rename", "Rename…", self._rename_clicked),
            ("delete", "Delete", self._delete_clicked),
        ]
        row = QHBoxLayout()
        for key, text, slot in actions:
            btn = QPushButton(text)
            btn.clicked.connect(slot)
            self.buttons[key] = btn
            row.addWidget(btn)
        row.addStretch(1)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)

        split = QSplitter()
        split.addWidget(self.table)
        split.addWidget(self.details)
        split.setSizes([560, 420])
        layout = QVBoxLayout(self)
        layout.addWidget(split, 1)
        layout.addWidget(self.message)
        layout.addLayout(row)
        layout.addWidget(close)
        self.refresh()

    # --------------------------------------------------------------- listing
    def refresh(self, select_id: str | None = None) -> None:
        """Re-read the library and show it, keeping or setting the selection."""
        keep = select_id or (self.selected().id if self.selected() else None)
        self.entries = self.library.list_models()
        active = self.library.active_id()
        self.table.setRowCount(len(self.entries))
        for r, entry in enumerate(self.entries):
            mark = "● active" if entry.id == active else ("bundled" if entry.bundled else "")
            cells = [mark, entry.name, entry.created[:16].replace("T", " "), _short_auc(entry)]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, entry.id)
                self.table.setItem(r, c, item)
        ids = [e.id for e in self.entries]
        target = keep if keep in ids else active if active in ids else (ids[0] if ids else None)
        if target is not None:
            self.table.selectRow(ids.index(target))
        else:
            self.details.setHtml("<i>No models: import one or train one with the wizard.</i>")
        for path, reason in self.library.skipped:
            self._say(f"Skipped {path.name}: {reason}", error=True)
        self._selection_changed()

    def selected(self) -> ModelEntry | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows or rows[0].row() >= len(self.entries):
            return None
        return self.entries[rows[0].row()]

    def select(self, model_id: str) -> None:
        ids = [e.id for e in self.entries]
        self.table.selectRow(ids.index(model_id))

    def _selection_changed(self) -> None:
        entry = self.selected()
        active = self.library.active_id()
        if entry is not None:
            self.details.setHtml(describe(entry, entry.id == active))
        has = entry is not None
        user = has and not entry.bundled
        self.buttons["activate"].setEnabled(has and entry.id != active)
        self.buttons["export"].setEnabled(has)
        self.buttons["rename"].setEnabled(bool(user))
        self.buttons["delete"].setEnabled(bool(user))
        self.buttons["delete"].setToolTip("" if user else "The bundled default cannot be deleted.")

    def _say(self, text: str, error: bool = False) -> None:
        self.message.setStyleSheet("color: #e0544b;" if error else "color: #4caf7a;")
        self.message.setText(text)

    def _run(self, what: Callable[[], Any]) -> tuple[bool, Any]:
        """Run one library call with a busy cursor; ``(ok, value)``. A failure is shown in
        the dialog (the library's message) instead of raising."""
        QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            return True, what()
        except (LibraryError, OSError) as exc:
            self._say(str(exc), error=True)
            return False, None
        finally:
            QGuiApplication.restoreOverrideCursor()

    # ------------------------------------------------------------ operations
    def activate_selected(self) -> None:
        entry = self.selected()
        if entry is None or not self._run(lambda: self.library.activate(entry.id))[0]:
            return
        self._say(f"“{entry.name}” is now the active model.")
        self.refresh(entry.id)
        self.activeModelChanged.emit(str(entry.path))

    def import_file(self, path: Path) -> ModelEntry | None:
        """Validate and copy a model file into the library."""
        _, entry = self._run(lambda: self.library.import_model(path))
        if entry is not None:
            self._say(f"Imported “{entry.name}”.")
            self.refresh(entry.id)
        return entry

    def import_reference(self, generator: Path, discriminator: Path,
                         config: Path) -> ModelEntry | None:
        """Convert reference SQUID checkpoints into a library model."""
        _, entry = self._run(
            lambda: self.library.import_reference(generator, discriminator, config))
        if entry is not None:
            self._say(f"Imported “{entry.name}” from the reference checkpoints; calibrate it "
                      "before use (the reference does not store a calibration).")
            self.refresh(entry.id)
        return entry

    def export_selected(self, dest: Path) -> Path | None:
        entry = self.selected()
        if entry is None:
            return None
        _, out = self._run(lambda: self.library.export(entry.id, dest))
        if out is not None:
            self._say(f"Exported “{entry.name}” to {out}.")
        return out

    def rename_selected(self, name: str) -> None:
        entry = self.selected()
        if entry is not None and self._run(lambda: self.library.rename(entry.id, name))[0]:
            self._say(f"Renamed to “{name.strip()}”.")
            self.refresh(entry.id)

    def delete_selected(self) -> None:
        """Delete the selected user model (no confirmation here: the button asks first)."""
        entry = self.selected()
        if entry is None:
            return
        was_active = self.library.active_id() == entry.id
        if not self._run(lambda: self.library.delete(entry.id))[0]:
            return
        self._say(f"Deleted “{entry.name}”.")
        self.refresh()
        if was_active:
            now = self.library.active_model()
            self.activeModelChanged.emit(str(now.path) if now else "")

    # --------------------------------------------------------------- buttons
    def _import_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a model file", "", MODEL_FILTER)
        if path:
            self.import_file(Path(path))

    def _reference_clicked(self) -> None:
        picks = []
        for title, filt in (("Reference generator state_dict", CHECKPOINT_FILTER),
                            ("Reference discriminator state_dict", CHECKPOINT_FILTER),
                            ("Reference config (JSON)", "JSON (*.json)")):
            path, _ = QFileDialog.getOpenFileName(self, title, "", filt)
            if not path:
                return
            picks.append(Path(path))
        self.import_reference(*picks)

    def _export_clicked(self) -> None:
        entry = self.selected()
        if entry is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export model", f"{entry.name}.safetensors",
                                              MODEL_FILTER)
        if path:
            self.export_selected(Path(path))

    def _rename_clicked(self) -> None:
        entry = self.selected()
        if entry is None:
            return
        name, ok = QInputDialog.getText(self, "Rename model", "New name:", text=entry.name)
        if ok:
            self.rename_selected(name)

    def _delete_clicked(self) -> None:
        entry = self.selected()
        if entry is None:
            return
        answer = QMessageBox.question(self, "Delete model",
                                      f"Delete “{entry.name}”? Its file is removed from the "
                                      "library folder; exported copies are not affected.")
        if answer == QMessageBox.StandardButton.Yes:
            self.delete_selected()
