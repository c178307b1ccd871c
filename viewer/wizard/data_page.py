"""Step 1 of the training wizard: the folders of normal studies and the validation folder.

Shows what the scan found (counts, thumbnails, rejected files and why) and warns
when there is too little data. Scanning runs in a worker thread; the page is
complete once a scan has found enough readable normal images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWizardPage,
)
from superqt.utils import create_worker

from viewer.wizard.data_scan import THUMB_SIZE, scan_data
from viewer.wizard.state import DataSummary, WizardState


def _pixmap(gray: np.ndarray) -> QPixmap:
    arr = np.ascontiguousarray(gray, dtype=np.uint8)
    h, w = arr.shape
    img = QImage(arr.data, w, h, w, QImage.Format.Format_Grayscale8)
    return QPixmap.fromImage(img.copy())


class DataPage(QWizardPage):
    """Choose folders; see counts, thumbnails, rejected files and warnings."""

    def __init__(self, state: WizardState, parent: QWizardPage | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._worker = None
        self._scanned = False
        self.setTitle("1. Data")
        self.setSubTitle(
            "Folders of NORMAL studies from this site (sub-folders are included). A labelled "
            "validation folder with 'normal' and 'abnormal' sub-folders is optional."
        )

        self.folder_list = QListWidget()
        self.folder_list.setMaximumHeight(80)
        add_btn = QPushButton("Add folder…")
        add_btn.clicked.connect(self._browse_normal)
        self.remove_btn = QPushButton("Remove")
        self.remove_btn.clicked.connect(self._remove_selected)
        buttons = QVBoxLayout()
        buttons.addWidget(add_btn)
        buttons.addWidget(self.remove_btn)
        buttons.addStretch(1)
        normal_row = QHBoxLayout()
        normal_row.addWidget(self.folder_list, 1)
        normal_row.addLayout(buttons)

        self.val_edit = QLineEdit()
        self.val_edit.setPlaceholderText("optional: folder with normal/ and abnormal/")
        self.val_edit.editingFinished.connect(self._val_edited)
        val_btn = QPushButton("Choose…")
        val_btn.clicked.connect(self._browse_val)
        val_row = QHBoxLayout()
        val_row.addWidget(QLabel("Validation folder:"))
        val_row.addWidget(self.val_edit, 1)
        val_row.addWidget(val_btn)

        self.counts_label = QLabel("No folders chosen yet.")
        self.counts_label.setWordWrap(True)
        self.warning_label = QLabel()
        self.warning_label.setWordWrap(True)
        self.warning_label.setStyleSheet("color: #f0c674;")

        self.thumbs = QListWidget()
        self.thumbs.setViewMode(QListWidget.ViewMode.IconMode)
        self.thumbs.setIconSize(QSize(THUMB_SIZE, THUMB_SIZE))
        self.thumbs.setFlow(QListWidget.Flow.LeftToRight)
        self.thumbs.setWrapping(False)
        self.thumbs.setFixedHeight(THUMB_SIZE + 40)
        self.thumbs.setMovement(QListWidget.Movement.Static)

        self.rejected_table = QTableWidget(0, 2)
        self.rejected_table.setHorizontalHeaderLabels(["Rejected file", "Reason"])
        self.rejected_table.horizontalHeader().setSectionResizeMode(
            0, QHeaderView.ResizeMode.ResizeToContents)
        self.rejected_table.horizontalHeader().setStretchLastSection(True)
        self.rejected_table.verticalHeader().setVisible(False)
        self.rejected_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)

        folders_box = QGroupBox("Folders")
        fl = QVBoxLayout(folders_box)
        fl.addWidget(QLabel("Normal studies:"))
        fl.addLayout(normal_row)
        fl.addLayout(val_row)
        found_box = QGroupBox("What was found")
        rl = QVBoxLayout(found_box)
        rl.addWidget(self.counts_label)
        rl.addWidget(self.warning_label)
        rl.addWidget(self.thumbs)
        rl.addWidget(self.rejected_table, 1)

        layout = QVBoxLayout(self)
        layout.addWidget(folders_box)
        layout.addWidget(found_box, 1)

    # ------------------------------------------------------------- folders
    def add_normal_folder(self, folder: Path) -> None:
        """Add a folder of normal studies and rescan (also the entry point for tests)."""
        folder = Path(folder)
        if folder in self.state.normal_dirs:
            return
        self.state.normal_dirs.append(folder)
        self.folder_list.addItem(str(folder))
        self.rescan()

    def set_validation_folder(self, folder: Path | None) -> None:
        """Set (or clear, with ``None``) the labelled validation folder and rescan."""
        self.state.val_dir = Path(folder) if folder else None
        self.val_edit.setText(str(folder) if folder else "")
        self.rescan()

    def _browse_normal(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of normal studies")
        if folder:
            self.add_normal_folder(Path(folder))

    def _browse_val(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Labelled validation folder")
        if folder:
            self.set_validation_folder(Path(folder))

    def _val_edited(self) -> None:
        text = self.val_edit.text().strip()
        new = Path(text) if text else None
        if new != self.state.val_dir:
            self.set_validation_folder(new)

    def _remove_selected(self) -> None:
        for item in self.folder_list.selectedItems():
            self.state.normal_dirs.remove(Path(item.text()))
            self.folder_list.takeItem(self.folder_list.row(item))
        self.rescan()

    # ---------------------------------------------------------------- scan
    def is_scanning(self) -> bool:
        return self._worker is not None

    def rescan(self) -> None:
        """Scan the chosen folders in a worker thread (a newer scan supersedes an older one)."""
        self._scanned = False
        self.completeChanged.emit()
        if not self.state.normal_dirs and self.state.val_dir is None:
            self._show(DataSummary(), [])
            return
        self.counts_label.setText("Scanning…")
        worker = create_worker(scan_data, list(self.state.normal_dirs), self.state.val_dir)
        worker.returned.connect(lambda res, w=worker: self._scan_done(w, res))
        worker.errored.connect(lambda exc, w=worker: self._scan_failed(w, exc))
        self._worker = worker
        worker.start()

    def _scan_done(self, worker: object, result: tuple) -> None:
        if worker is not self._worker:
            return  # an older scan; a newer one is running
        self._worker = None
        summary, thumbs = result
        self._show(summary, thumbs)

    def _scan_failed(self, worker: object, exc: Exception) -> None:
        if worker is not self._worker:
            return
        self._worker = None
        self.counts_label.setText(f"Scan failed: {exc}")

    def _show(self, summary: DataSummary, thumbs: list[tuple[str, np.ndarray]]) -> None:
        self.state.data = summary
        self._scanned = True
        parts = [f"<b>{len(summary.normal_files)}</b> normal images for training"]
        if self.state.val_dir is not None:
            parts.append(
                f"validation: <b>{len(summary.val_normal_files)}</b> normal, "
                f"<b>{len(summary.val_abnormal_files)}</b> abnormal"
            )
        parts.append(f"<b>{len(summary.rejected)}</b> rejected")
        self.counts_label.setText("; ".join(parts) + ".")
        warnings = summary.warnings(self.state.val_dir is not None)
        if self.state.normal_dirs or self.state.val_dir is not None:
            self.warning_label.setText("\n".join(f"⚠ {w}" for w in warnings))
        self.thumbs.clear()
        for name, img in thumbs:
            item = QListWidgetItem(QIcon(_pixmap(img)), name)
            item.setToolTip(name)
            self.thumbs.addItem(item)
        self.rejected_table.setRowCount(len(summary.rejected))
        for row, (path, reason) in enumerate(summary.rejected):
            cell = QTableWidgetItem(path.name)
            cell.setToolTip(str(path))
            self.rejected_table.setItem(row, 0, cell)
            self.rejected_table.setItem(row, 1, QTableWidgetItem(reason))
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802 (Qt override)
        return self._scanned and self._worker is None and self.state.data.can_train()

    def thumbnail_count(self) -> int:
        return self.thumbs.count()
