"""DICOM tag browser with a search filter.

Lists every element of ``ImageData.header`` (a pydicom Dataset without pixel data),
sequences as expandable rows. The filter matches tag numbers ("0028,0030" or
"00280030"), keywords and values, case-insensitively, and keeps the parents of a match
visible so a hit inside a sequence stays in context.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

#: Longest value shown in a cell; the tooltip holds the rest.
MAX_VALUE_CHARS = 200


def _value_text(elem: Any) -> str:
    if elem.VR in ("OB", "OW", "OF", "OD", "OL", "OV", "UN") and not isinstance(elem.value, str):
        try:
            return f"<{len(elem.value)} bytes>"
        except TypeError:
            return "<binary>"
    try:
        text = str(elem.value)
    except Exception:  # a malformed value must not break the browser
        return "<unreadable value>"
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "…"


class TagBrowser(QWidget):
    """Tree of DICOM elements (Tag | Keyword | VR | Value) and a filter field."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Filter tags: number, keyword or value")
        self.search.setClearButtonEnabled(True)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Tag", "Keyword", "VR", "Value"])
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        header = self.tree.header()
        for col in range(3):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.empty = QLabel("No DICOM header (not a DICOM file).")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.search)
        layout.addWidget(self.empty)
        layout.addWidget(self.tree, 1)
        self.search.textChanged.connect(self.apply_filter)
        self.set_dataset(None)

    def set_dataset(self, dataset: Any) -> None:
        """Show a pydicom Dataset, or the "no header" note for None."""
        self.tree.clear()
        self.empty.setVisible(dataset is None)
        self.tree.setVisible(dataset is not None)
        if dataset is not None:
            meta = getattr(dataset, "file_meta", None)
            if meta:
                group = QTreeWidgetItem(["", "File meta information", "", ""])
                self.tree.addTopLevelItem(group)
                self._add(meta, group)
            self._add(dataset, None)
        self.apply_filter(self.search.text())

    def row_count(self) -> int:
        """Rows not hidden by the filter (all levels)."""
        count = 0

        def walk(item: QTreeWidgetItem) -> None:
            nonlocal count
            if not item.isHidden():
                count += 1
            for i in range(item.childCount()):
                walk(item.child(i))

        for i in range(self.tree.topLevelItemCount()):
            walk(self.tree.topLevelItem(i))
        return count

    def _add(self, dataset: Any, parent: QTreeWidgetItem | None) -> None:
        for elem in dataset:
            tag = f"({elem.tag.group:04X},{elem.tag.element:04X})"
            if elem.VR == "SQ":
                item = QTreeWidgetItem([tag, elem.keyword or elem.name, "SQ",
                                        f"{len(elem.value)} item(s)"])
                for i, ds in enumerate(elem.value):
                    child = QTreeWidgetItem(["", f"Item {i + 1}", "", ""])
                    item.addChild(child)
                    self._add(ds, child)
            else:
                value = _value_text(elem)
                item = QTreeWidgetItem([tag, elem.keyword or elem.name, str(elem.VR), value])
                item.setToolTip(3, value)
            if parent is None:
                self.tree.addTopLevelItem(item)
            else:
                parent.addChild(item)

    def apply_filter(self, text: str) -> None:
        """Hide rows that do not match ``text``; keep the parents of matches."""
        needle = text.strip().lower().replace("(", "").replace(")", "")
        compact = needle.replace(",", "").replace(" ", "")

        def matches(item: QTreeWidgetItem) -> bool:
            tag = item.text(0).lower().replace("(", "").replace(")", "")
            return (needle in tag or (compact and compact in tag.replace(",", ""))
                    or needle in item.text(1).lower() or needle in item.text(3).lower())

        def walk(item: QTreeWidgetItem) -> bool:
            child_hit = False
            for i in range(item.childCount()):
                child_hit = walk(item.child(i)) or child_hit
            visible = not needle or matches(item) or child_hit
            item.setHidden(not visible)
            if needle and child_hit:
                item.setExpanded(True)
            return visible

        for i in range(self.tree.topLevelItemCount()):
            walk(self.tree.topLevelItem(i))
