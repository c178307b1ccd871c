"""The rows of the study browser as a Qt item model over :class:`squid_core.session.catalog.Catalog`.

Why a model and not a ``QTreeWidget``: with thousands of images open, building one
widget item per row and sorting them through a Python ``__lt__`` stalled the interface
for hundreds of milliseconds on every batch of scores. Here rows are small Python nodes
that the view asks about only when it paints them, and sorting is one ``sorted()`` call
per sibling list with a precomputed key, followed by a layout change that keeps the
selection.

Tree: patient > study > series > image, each group showing the highest score of its
images (a study is as suspicious as its worst image). Worklist: one row per image.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from squid_core.scoring.result import NOT_APPLICABLE, OUTSIDE
from squid_core.session.catalog import Catalog, Entry
from viewer.theme import FLAG, MUTED, OK, REVIEW, TEXT

COLUMNS = ("Patient / study / series / image", "Score", "Flag", "Date", "Modality",
           "Body part", "View")
COL_NAME, COL_SCORE, COL_FLAG, COL_DATE, COL_MODALITY, COL_BODY, COL_VIEW = range(len(COLUMNS))
#: Role holding the value a column sorts by (numbers as numbers).
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
#: Role holding an image row's catalog key (None for groups).
KEY_ROLE = Qt.ItemDataRole.UserRole + 2

# Flags computed once: the view asks for them twice per row on every layout.
_GROUP_FLAGS = Qt.ItemFlag.ItemIsEnabled
_IMAGE_FLAGS = (Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                | Qt.ItemFlag.ItemNeverHasChildren)
_NO_FLAGS = Qt.ItemFlag.NoItemFlags
_DIGITS = re.compile(r"(\d+)")
_ALIGN_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_BRUSHES = {c: QBrush(QColor(c)) for c in (FLAG, OK, MUTED, TEXT, REVIEW)}
_BOLD = QFont()
_BOLD.setBold(True)


def fmt_date(value: str) -> str:
    """DICOM DA (YYYYMMDD) as YYYY-MM-DD; anything else as it is."""
    v = (value or "").strip()
    return f"{v[:4]}-{v[4:6]}-{v[6:8]}" if len(v) == 8 and v.isdigit() else v


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key in which digit runs compare as numbers: "#2" before "#10", "img9" before
    "img10" (instance numbers and numbered file names read in order)."""
    return tuple((0, int(part)) if part.isdigit() else (1, part)
                 for part in _DIGITS.split(text.lower()) if part)


def score_sort_value(score: float | None, urgent: bool = False) -> tuple[int, float]:
    """Flagged and needs-review rows first (descending), by score; unscored rows sort
    below every score, in either direction's natural place."""
    return (int(urgent), -1.0 if score is None or math.isnan(score) else float(score))


#: The mark of a result that needs review, in the Flag column.
REVIEW_MARKS = {NOT_APPLICABLE: "REVIEW: n/a", OUTSIDE: "REVIEW: outside"}


class Node:
    """One row: an image (``key`` set) or a group of images."""

    __slots__ = ("label", "key", "parent", "children", "row", "common", "score", "flagged",
                 "count", "status", "reason")

    def __init__(self, label: str, parent: Node | None, key: str | None = None,
                 common: Entry | None = None) -> None:
        self.label = label
        self.key = key
        self.parent = parent
        self.children: list[Node] = []
        self.row = 0
        self.common = common  # the entry whose date / modality / body part / view it shows
        self.score: float | None = None
        self.flagged: bool | None = None
        self.count = 0  # images at or under this node
        self.status: str | None = None  # scored / not-applicable / outside; None unanalysed
        self.reason = ""  # why it needs review

    @property
    def review(self) -> bool:
        """Not applicable or outside the training data (a group: any of its images)."""
        return self.status in REVIEW_MARKS

    @property
    def urgent(self) -> bool:
        return bool(self.flagged) or self.review

    def add(self, child: Node) -> Node:
        child.row = len(self.children)
        self.children.append(child)
        return child

    def image_keys(self) -> list[str]:
        """Keys of all images at or under this node."""
        if self.key is not None:
            return [self.key]
        out: list[str] = []
        stack = [self]
        while stack:
            node = stack.pop()
            for child in node.children:
                if child.key is not None:
                    out.append(child.key)
                else:
                    stack.append(child)
        return out

    def text(self, column: int) -> str:
        if column == COL_NAME:
            return self.label if self.key is not None else f"{self.label}  [{self.count}]"
        if column == COL_SCORE:
            return "—" if self.score is None else f"{self.score:.1f}"
        if column == COL_FLAG:
            if self.status in REVIEW_MARKS:
                return REVIEW_MARKS[self.status]
            return {True: "FLAG", False: "no"}.get(self.flagged, "")
        return self._common_text(column)

    def _common_text(self, column: int) -> str:
        e = self.common
        if e is None:
            return ""
        if column == COL_DATE:
            return fmt_date(e.study_date)
        return {COL_MODALITY: e.modality, COL_BODY: e.body_part, COL_VIEW: e.view}.get(column, "")

    def sort_value(self, column: int) -> Any:
        if column == COL_NAME:
            return natural_key(self.label)
        if column == COL_SCORE:
            return score_sort_value(self.score, self.urgent)
        if column == COL_FLAG:
            return 3 if self.review else {True: 2, False: 1}.get(self.flagged, 0)
        return self._common_text(column)


class StudyTreeModel(QAbstractItemModel):
    """Rows of the catalog, as a tree (patients > studies > series > images) or a flat
    worklist, sortable by any column."""

    def __init__(self, catalog: Catalog, parent: Any = None) -> None:
        super().__init__(parent)
        self.catalog = catalog
        self.worklist = False
        self.root = Node("", None)
        self.nodes: dict[str, Node] = {}
        self.sort_column = COL_NAME
        self.sort_order = Qt.SortOrder.AscendingOrder

    # -- building ----------------------------------------------------------------------

    def rebuild(self, worklist: bool) -> None:
        """Rebuild every row from the catalog (a model reset)."""
        self.beginResetModel()
        self.worklist = worklist
        self.root = Node("", None)
        self.nodes = {}
        if worklist:
            for entry in self.catalog.worklist():
                who = entry.patient_name or entry.patient_id
                label = f"{entry.label}  ({who})" if who else entry.label
                self._image(self.root, entry, label)
        else:
            for (pid, pname), studies in self.catalog.hierarchy().items():
                first_entry = next(iter(next(iter(studies.values())).values()))[0]
                if not pname and not first_entry.is_dicom:  # raster files, by folder
                    label = f"Folder {Path(pid).name or pid}"
                else:
                    label = " — ".join(dict.fromkeys(x for x in (pname, pid) if x))
                    label = label or "Unknown patient"
                p_node = self.root.add(Node(label, self.root))
                for series_map in studies.values():
                    first = next(iter(series_map.values()))[0]
                    s_label = first.study_description or (
                        "Study" if first.study_uid else str(first.path.parent))
                    s_node = p_node.add(Node(s_label, p_node, common=first))
                    for entries in series_map.values():
                        f = entries[0]
                        ser_label = f.series_description or (
                            f"Series ({f.modality})" if f.modality else "Images")
                        ser_node = s_node.add(Node(ser_label, s_node, common=f))
                        for entry in sorted(entries, key=lambda e: (e.instance_number or 0,
                                                                    e.path.name)):
                            self._image(ser_node, entry, entry.label)
            self._refresh_groups(self.root.children)
        self._sort_children(self.root, recursive=True)
        self.endResetModel()

    def _image(self, parent: Node, entry: Entry, label: str) -> Node:
        node = parent.add(Node(label, parent, key=entry.key, common=entry))
        node.count = 1
        self._fill_score(node)
        self.nodes[entry.key] = node
        return node

    def _fill_score(self, node: Node) -> None:
        entry = self.catalog.entries.get(node.key or "")
        summary = entry.summary if entry is not None else None
        node.score = None if summary is None else summary.score
        node.flagged = None if summary is None else summary.flagged
        node.status = None if summary is None else summary.status
        node.reason = "" if summary is None else summary.status_reason

    def _refresh_groups(self, groups: list[Node]) -> None:
        """Recompute count, highest score and flag of group nodes (and their subgroups)."""
        for group in groups:
            if group.key is not None:
                continue
            self._refresh_groups(group.children)
            group.count = sum(c.count for c in group.children)
            _summarise(group)

    # -- updates -----------------------------------------------------------------------

    def update_scores(self, keys: list[str]) -> None:
        """Refresh the rows of ``keys`` and of their groups, then restore the sort order."""
        touched: dict[int, Node] = {}
        for key in keys:
            node = self.nodes.get(key)
            if node is None:
                continue
            self._fill_score(node)
            touched[id(node)] = node
            parent = node.parent
            while parent is not None and parent is not self.root:
                touched[id(parent)] = parent
                parent = parent.parent
        if not touched:
            return
        # Groups deepest first, so each sees its children's new values.
        groups = sorted((n for n in touched.values() if n.key is None), key=_depth, reverse=True)
        for group in groups:
            _summarise(group)
        for node in touched.values():
            self.dataChanged.emit(self._index(node, COL_SCORE), self._index(node, COL_FLAG))
        if self.sort_column in (COL_SCORE, COL_FLAG):
            self._relayout({id(n.parent): n.parent for n in touched.values()
                            if n.parent is not None}.values())

    def remove(self, key: str) -> list[str]:
        """Take the row of ``key`` out, with any group left empty. Returns the image keys
        of the nearest remaining group (whose score may have changed)."""
        node = self.nodes.pop(key, None)
        if node is None:
            return []
        while node.parent is not None:
            parent = node.parent
            self.beginRemoveRows(self._parent_index(node), node.row, node.row)
            del parent.children[node.row]
            for i, sibling in enumerate(parent.children):
                sibling.row = i
            self.endRemoveRows()
            if parent.children or parent is self.root:
                break
            node = parent
        group = node.parent
        if group is None or group is self.root:
            return []
        while group is not None and group is not self.root:
            group.count = sum(c.count for c in group.children)
            group = group.parent
        self.dataChanged.emit(self._index(node.parent, COL_NAME),
                              self._index(node.parent, COL_NAME))
        return node.parent.image_keys()[:1]

    # -- sorting -----------------------------------------------------------------------

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort every sibling list by ``column`` (the view calls this on a header click)."""
        self.sort_column, self.sort_order = column, order
        self._relayout([self.root], recursive=True)

    def _sort_children(self, node: Node, recursive: bool = False) -> None:
        col = self.sort_column
        reverse = self.sort_order == Qt.SortOrder.DescendingOrder
        if self.worklist and col in (COL_SCORE, COL_FLAG):
            # Ties (e.g. all the unscored images) keep the catalog's worklist order.
            node.children.sort(key=lambda n: n.sort_value(col), reverse=reverse)
        else:
            node.children.sort(key=lambda n: (n.sort_value(col), natural_key(n.label)),
                               reverse=reverse)
        for i, child in enumerate(node.children):
            child.row = i
            if recursive and child.children:
                self._sort_children(child, recursive=True)

    def _relayout(self, parents: Any, recursive: bool = False) -> None:
        self.layoutAboutToBeChanged.emit()
        old = self.persistentIndexList()
        remembered = [(idx.internalPointer(), idx.column()) for idx in old]
        for parent in parents:
            self._sort_children(parent, recursive=recursive)
        new = [self._index(node, col) if node is not None else QModelIndex()
               for node, col in remembered]
        self.changePersistentIndexList(old, new)
        self.layoutChanged.emit()

    # -- lookups -----------------------------------------------------------------------

    def index_of(self, key: str, column: int = COL_NAME) -> QModelIndex:
        """The index of image ``key`` (invalid when it is not listed)."""
        node = self.nodes.get(key)
        return QModelIndex() if node is None else self._index(node, column)

    def node(self, index: QModelIndex | QPersistentModelIndex) -> Node | None:
        return index.internalPointer() if index.isValid() else None

    def keys_in_order(self) -> list[str]:
        """Image keys depth first, in the current sort order."""
        out: list[str] = []

        def walk(node: Node) -> None:
            for child in node.children:
                if child.key is not None:
                    out.append(child.key)
                else:
                    walk(child)

        walk(self.root)
        return out

    def _index(self, node: Node, column: int) -> QModelIndex:
        if node is self.root:
            return QModelIndex()
        return self.createIndex(node.row, column, node)

    def _parent_index(self, node: Node) -> QModelIndex:
        parent = node.parent
        return QModelIndex() if parent is None or parent is self.root else self._index(parent, 0)

    # -- QAbstractItemModel --------------------------------------------------------------

    def index(self, row: int, column: int, parent: QModelIndex = QModelIndex()) -> QModelIndex:
        node = parent.internalPointer() if parent.isValid() else self.root
        if 0 <= row < len(node.children) and 0 <= column < len(COLUMNS):
            return self.createIndex(row, column, node.children[row])
        return QModelIndex()

    def parent(self, index: QModelIndex = QModelIndex()) -> QModelIndex:  # type: ignore[override]
        if not index.isValid():
            return QModelIndex()
        return self._parent_index(index.internalPointer())

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        if not parent.isValid():
            return len(self.root.children)
        if parent.column() > 0:
            return 0
        return len(parent.internalPointer().children)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return len(COLUMNS)

    def hasChildren(self, parent: QModelIndex = QModelIndex()) -> bool:
        return self.rowCount(parent) > 0

    def flags(self, index: QModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return _NO_FLAGS
        return _GROUP_FLAGS if index.internalPointer().key is None else _IMAGE_FLAGS

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        node: Node = index.internalPointer()
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return node.text(col)
        if role == Qt.ItemDataRole.ForegroundRole:
            if col in (COL_FLAG, COL_SCORE) and node.review:
                return _BRUSHES[REVIEW]
            if col == COL_FLAG:
                return _BRUSHES[{True: FLAG, False: OK}.get(node.flagged, MUTED)]
            if col == COL_SCORE:
                return _BRUSHES[FLAG if node.flagged else TEXT]
            return None
        if role == Qt.ItemDataRole.ToolTipRole and col in (COL_FLAG, COL_SCORE) and node.reason:
            return node.reason
        if role == Qt.ItemDataRole.TextAlignmentRole and col == COL_SCORE:
            return _ALIGN_RIGHT
        if role == Qt.ItemDataRole.FontRole and col == COL_NAME and node.key is None:
            return _BOLD
        if role == Qt.ItemDataRole.ToolTipRole and col == COL_NAME and node.key is not None:
            return node.key
        if role == SORT_ROLE:
            return node.sort_value(col)
        if role == KEY_ROLE:
            return node.key
        return None


def _summarise(group: Node) -> None:
    """A group's score is its worst image's; it is flagged if any image is."""
    scores = [c.score for c in group.children if c.score is not None]
    flags = [c.flagged for c in group.children if c.flagged is not None]
    group.score = max(scores) if scores else None
    group.flagged = any(flags) if flags else None
    review = [c for c in group.children if c.review]
    group.status = review[0].status if review else None
    group.reason = f"{len(review)} image(s) need review" if review else ""


def _depth(node: Node) -> int:
    depth = 0
    while node.parent is not None:
        node, depth = node.parent, depth + 1
    return depth
