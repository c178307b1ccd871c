"""A file path field for the PACS dialogs: a text field, a "Browse…" button, and a line
under them where a check of that file says what is wrong with it."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

#: What the Browse dialog lists.
PEM_FILTER = "PEM files (*.pem *.crt *.cer *.key);;All files (*)"


def error_label() -> QLabel:
    """A hidden red line for what is wrong with a field."""
    label = QLabel("")
    label.setWordWrap(True)
    label.setStyleSheet("color: #d9534f;")
    label.hide()
    return label


class FileField(QWidget):
    """A path typed or picked (``title``: the Browse dialog's title); ``path`` is the text,
    ``error``/``set_error`` the sentence shown under it ("" hides it)."""

    def __init__(self, title: str, path: str = "", placeholder: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.edit = QLineEdit(path)
        self.edit.setPlaceholderText(placeholder)
        self.browse_button = QPushButton("Browse…")
        self.error_label = error_label()
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addWidget(self.browse_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(row)
        layout.addWidget(self.error_label)
        self.browse_button.clicked.connect(self.browse)
        self.edit.textEdited.connect(lambda _t: self.set_error(""))

    @property
    def path(self) -> str:
        """The path as entered (stripped)."""
        return self.edit.text().strip()

    @property
    def error(self) -> str:
        """The sentence shown under the field ("" when none)."""
        return self.error_label.text()

    def set_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.setVisible(bool(text))

    def browse(self) -> None:
        """Pick the file in a dialog (starting where the current path is)."""
        path, _ = QFileDialog.getOpenFileName(self, self.title, self.path, PEM_FILTER)
        if path:
            self.edit.setText(path)
            self.set_error("")
