"""Study browser and worklist: patient / study / series / image, with scores and flags.

A thin widget over :class:`viewer.catalog.Catalog`. Two views of the same entries:

* **Tree**: patient > study > series > image, each parent showing the highest score of
  its images (a study is as suspicious as its worst image); any column sorts.
* **Worklist**: one row per image, most suspicious first. Unscored images stay in the
  list, below the scored ones: nothing is ever hidden or dropped for a low score.

Scores arriving during "Analyse all" update rows in place and the list re-sorts. Files
that could not be opened are listed underneath with the reason.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from viewer.catalog import Catalog, Entry, max_score
from viewer.theme import FLAG, MUTED, OK

COLUMNS = ("Patient / study / series / image", "Score", "Flag", "Date", "Modality",
           "Body part", "View")
COL_NAME, COL_SCORE, COL_FLAG, COL_DATE, COL_MODALITY, COL_BODY, COL_VIEW = range(len(COLUMNS))
_SORT_ROLE = Qt.ItemDataRole.UserRole + 1
_KEY_ROLE = Qt.ItemDataRole.UserRole + 2


#: Lists up to this many rows re-sort on every score; longer ones in batches.
IMMEDIATE_ROWS = 500
#: How long scores of a long list are gathered before one re-sort (milliseconds).
SCORE_BATCH_MS = 250


def _fmt_date(value: str) -> str:
    """DICOM DA (YYYYMMDD) as YYYY-MM-DD; anything else as it is."""
    v = (value or "").strip()
    return f"{v[:4]}-{v[4:6]}-{v[6:8]}" if len(v) == 8 and v.isdigit() else v


class _Item(QTreeWidgetItem):
    """A row that sorts by the value stored under ``_SORT_ROLE`` (numbers as numbers)."""

    def __lt__(self, other: QTreeWidgetItem) -> bool:
        col = self.treeWidget().sortColumn() if self.treeWidget() else 0
        a, b = self.data(col, _SORT_ROLE), other.data(col, _SORT_ROLE)
        if a is None or b is None:
            return super().__lt__(other)
        return a < b


def _group_flag(entries: list[Entry]) -> bool | None:
    """A group is flagged if any image is; None when no image has an operating point."""
    flags = [e.summary.flagged for e in entries if e.summary is not None]
    flags = [f for f in flags if f is not None]
    return any(flags) if flags else None


def _score_sort_value(score: float | None) -> float:
    """Unscored rows sort below every score, in either direction's natural place."""
    return -1.0 if score is None else float(score)


class StudyBrowser(QWidget):
    """Tree/worklist of the catalog plus the "Could not open" list."""

    #: Key (path string) of the image the user selected.
    imageSelected = Signal(str)

    def __init__(self, catalog: Catalog, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.catalog = catalog
        self._worklist = False
        self._items: dict[str, _Item] = {}
        # Scores of a large list are applied in batches: one sort per batch, not per score.
        self._pending_scores: set[str] = set()
        self._score_timer = QTimer(self)
        self._score_timer.setSingleShot(True)
        self._score_timer.setInterval(SCORE_BATCH_MS)
        self._score_timer.timeout.connect(self._flush_scores)

        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setSortingEnabled(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.tree.header()
        # Interactive widths, fitted to the contents once per rebuild: "ResizeToContents"
        # would measure every row again on every score update.
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.resizeSection(COL_NAME, 230)
        header.setStretchLastSection(True)
        self.tree.sortByColumn(COL_NAME, Qt.SortOrder.AscendingOrder)
        self.tree.currentItemChanged.connect(self._on_current)

        self.rejected_label = QLabel("Could not open")
        self.rejected_label.setStyleSheet(f"color: {MUTED};")
        self.rejected = QListWidget()
        self.rejected.setWordWrap(True)
        rejected_box = QWidget()
        box = QVBoxLayout(rejected_box)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.rejected_label)
        box.addWidget(self.rejected)

        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.tree)
        self.splitter.addWidget(rejected_box)
        self.splitter.setStretchFactor(0, 4)
        self.splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)
        self.rebuild()

    # -- public ----------------------------------------------------------------------

    @property
    def worklist_mode(self) -> bool:
        """True when showing the flat list sorted by score."""
        return self._worklist

    def set_worklist_mode(self, enabled: bool) -> None:
        """Switch between the tree and the worklist (flat, most suspicious first)."""
        self._worklist = bool(enabled)
        self.rebuild()

    def rebuild(self) -> None:
        """Rebuild every row from the catalog, keeping the selection."""
        current = self.current_key()
        self.tree.blockSignals(True)
        self.tree.setSortingEnabled(False)
        self.tree.clear()
        self._items.clear()
        if self._worklist:
            for entry in self.catalog.worklist():
                self.tree.addTopLevelItem(self._image_item(entry, worklist=True))
        else:
            for (pid, pname), studies in self.catalog.hierarchy().items():
                patient_entries = [e for s in studies.values() for ser in s.values() for e in ser]
                if not pname and not patient_entries[0].is_dicom:  # raster files, by folder
                    label = f"Folder {Path(pid).name or pid}"
                else:
                    label = " — ".join(dict.fromkeys(x for x in (pname, pid) if x))
                    label = label or "Unknown patient"
                p_item = self._group_item(label, patient_entries)
                self.tree.addTopLevelItem(p_item)
                for series_map in studies.values():
                    study_entries = [e for ser in series_map.values() for e in ser]
                    first = study_entries[0]
                    s_label = first.study_description or (
                        "Study" if first.study_uid else str(first.path.parent))
                    s_item = self._group_item(s_label, study_entries, first)
                    p_item.addChild(s_item)
                    for entries in series_map.values():
                        f = entries[0]
                        ser_label = f.series_description or (
                            f"Series ({f.modality})" if f.modality else "Images")
                        ser_item = self._group_item(ser_label, entries, f)
                        s_item.addChild(ser_item)
                        for entry in sorted(entries, key=lambda e: (e.instance_number or 0,
                                                                    e.path.name)):
                            ser_item.addChild(self._image_item(entry))
                p_item.setExpanded(True)
                for i in range(p_item.childCount()):
                    p_item.child(i).setExpanded(True)
                    for j in range(p_item.child(i).childCount()):
                        p_item.child(i).child(j).setExpanded(True)
        self.tree.setSortingEnabled(True)
        if self._worklist:
            self.tree.sortItems(COL_SCORE, Qt.SortOrder.DescendingOrder)
        for col in range(1, len(COLUMNS)):
            self.tree.resizeColumnToContents(col)
            header = self.tree.header()
            header.resizeSection(col, max(header.sectionSize(col), 48))
        self.tree.blockSignals(False)
        self._rebuild_rejected()
        if current and current in self._items:
            self.tree.blockSignals(True)
            self.tree.setCurrentItem(self._items[current])
            self.tree.blockSignals(False)

    def update_score(self, key: str) -> None:
        """A score arrived (or was cleared) for ``key``: refresh its row and its parents,
        then re-sort so the worklist order follows the scores.

        Up to ``IMMEDIATE_ROWS`` rows this happens at once; in a longer list the scores
        are gathered for ``SCORE_BATCH_MS`` and applied with one sort, since sorting
        thousands of rows per score would stall the interface.
        """
        self._pending_scores.add(key)
        if len(self._items) <= IMMEDIATE_ROWS:
            self._flush_scores()
        elif not self._score_timer.isActive():
            self._score_timer.start()

    def _flush_scores(self) -> None:
        self._score_timer.stop()
        keys, self._pending_scores = list(self._pending_scores), set()
        self.update_scores(keys)

    def update_scores(self, keys: list[str]) -> None:
        """Refresh the rows of ``keys`` and their parents, then sort once.

        Sorting is switched off while the cells change: with it on, a QTreeWidget
        re-sorts (and re-measures its columns) on every single cell update.
        """
        items = [(self._items[k], self.catalog.entries[k]) for k in keys
                 if k in self._items and k in self.catalog.entries]
        if not items:
            return
        header = self.tree.header()
        column, order = header.sortIndicatorSection(), header.sortIndicatorOrder()
        self.tree.setUpdatesEnabled(False)
        self.tree.setSortingEnabled(False)
        try:
            parents: dict[int, QTreeWidgetItem] = {}
            for item, entry in items:
                self._fill_score(item, entry.score,
                                 entry.summary.flagged if entry.summary else None)
                parent = item.parent()
                while parent is not None:
                    parents[id(parent)] = parent
                    parent = parent.parent()
            for parent in parents.values():
                entries = [self.catalog.entries[k] for k in self._descendant_keys(parent)
                           if k in self.catalog.entries]
                self._fill_score(parent, max_score(entries), _group_flag(entries))
        finally:
            self.tree.setSortingEnabled(True)
            self.tree.sortItems(column, order)
            self.tree.setUpdatesEnabled(True)

    def remove(self, key: str) -> None:
        """Take the row of ``key`` out (it moved to the "Could not open" list), with any
        group left empty, and refresh that list. Cheaper than a rebuild mid-analysis."""
        item = self._items.pop(key, None)
        if item is not None:
            parent = item.parent()
            if parent is None:
                self.tree.takeTopLevelItem(self.tree.indexOfTopLevelItem(item))
            else:
                parent.removeChild(item)
            while parent is not None and parent.childCount() == 0:
                grand = parent.parent()
                if grand is None:
                    self.tree.takeTopLevelItem(self.tree.indexOfTopLevelItem(parent))
                else:
                    grand.removeChild(parent)
                parent = grand
            if parent is not None:
                self.update_scores(self._descendant_keys(parent)[:1])
        self._rebuild_rejected()

    def refresh_scores(self) -> None:
        """Refresh every row's score (e.g. after scores were cleared for a new model)."""
        self.update_scores(list(self._items))

    def select(self, key: str) -> bool:
        """Select the image ``key`` (emits ``imageSelected``); False if it is not listed."""
        item = self._items.get(key)
        if item is None:
            return False
        self.tree.setCurrentItem(item)
        return True

    def current_key(self) -> str | None:
        """Key of the selected image, or None when a group (or nothing) is selected."""
        item = self.tree.currentItem()
        return None if item is None else item.data(COL_NAME, _KEY_ROLE)

    def visible_keys(self) -> list[str]:
        """Image keys in the order shown (depth first)."""
        keys: list[str] = []

        def walk(item: QTreeWidgetItem) -> None:
            key = item.data(COL_NAME, _KEY_ROLE)
            if key:
                keys.append(key)
            for i in range(item.childCount()):
                walk(item.child(i))

        for i in range(self.tree.topLevelItemCount()):
            walk(self.tree.topLevelItem(i))
        return keys

    def step(self, delta: int) -> None:
        """Select the next (``delta`` > 0) or previous image in the order shown."""
        keys = self.visible_keys()
        if not keys:
            return
        current = self.current_key()
        index = keys.index(current) + delta if current in keys else 0
        self.select(keys[min(max(index, 0), len(keys) - 1)])

    # -- rows ------------------------------------------------------------------------

    def _image_item(self, entry: Entry, worklist: bool = False) -> _Item:
        item = _Item()
        if worklist:
            who = entry.patient_name or entry.patient_id
            label = f"{entry.label}  ({who})" if who else entry.label
        else:
            label = entry.label
        item.setText(COL_NAME, label)
        item.setToolTip(COL_NAME, str(entry.path))
        item.setData(COL_NAME, _KEY_ROLE, entry.key)
        item.setData(COL_NAME, _SORT_ROLE, label.lower())
        self._fill_common(item, entry)
        self._fill_score(item, entry.score, entry.summary.flagged if entry.summary else None)
        self._items[entry.key] = item
        return item

    def _group_item(self, label: str, entries: list[Entry], first: Entry | None = None) -> _Item:
        item = _Item()
        item.setText(COL_NAME, f"{label}  [{len(entries)}]")
        item.setData(COL_NAME, _SORT_ROLE, label.lower())
        font = item.font(COL_NAME)
        font.setBold(True)
        item.setFont(COL_NAME, font)
        item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled)
        if first is not None:
            self._fill_common(item, first)
        else:
            for col in (COL_DATE, COL_MODALITY, COL_BODY, COL_VIEW):
                item.setData(col, _SORT_ROLE, "")
        self._fill_score(item, max_score(entries), _group_flag(entries))
        return item

    @staticmethod
    def _fill_common(item: _Item, entry: Entry) -> None:
        for col, text in ((COL_DATE, _fmt_date(entry.study_date)),
                          (COL_MODALITY, entry.modality), (COL_BODY, entry.body_part),
                          (COL_VIEW, entry.view)):
            item.setText(col, text)
            item.setData(col, _SORT_ROLE, text)

    @staticmethod
    def _fill_score(item: _Item, score: float | None, flagged: bool | None) -> None:
        item.setText(COL_SCORE, "—" if score is None else f"{score:.1f}")
        item.setData(COL_SCORE, _SORT_ROLE, _score_sort_value(score))
        item.setTextAlignment(COL_SCORE, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if flagged is True:
            text, colour, rank = "FLAG", FLAG, 2
        elif flagged is False:
            text, colour, rank = "no", OK, 1
        else:
            text, colour, rank = "", MUTED, 0
        item.setText(COL_FLAG, text)
        item.setData(COL_FLAG, _SORT_ROLE, rank)
        item.setForeground(COL_FLAG, QBrush(QColor(colour)))
        item.setForeground(COL_SCORE, QBrush(QColor(FLAG if flagged else "#e6e6e6")))

    def _descendant_keys(self, item: QTreeWidgetItem) -> list[str]:
        keys = []
        for i in range(item.childCount()):
            child = item.child(i)
            key = child.data(COL_NAME, _KEY_ROLE)
            if key:
                keys.append(key)
            keys.extend(self._descendant_keys(child))
        return keys

    def _rebuild_rejected(self) -> None:
        self.rejected.clear()
        for r in self.catalog.rejected:
            item = QListWidgetItem(f"{r.path.name}: {r.reason}")
            item.setToolTip(f"{r.path}\n{r.reason}")
            self.rejected.addItem(item)
        n = len(self.catalog.rejected)
        self.rejected_label.setText(f"Could not open ({n})")
        self.rejected_label.parentWidget().setVisible(n > 0)

    def _on_current(self, current: QTreeWidgetItem | None, _previous: object) -> None:
        if current is None:
            return
        key = current.data(COL_NAME, _KEY_ROLE)
        if key:
            self.imageSelected.emit(key)
