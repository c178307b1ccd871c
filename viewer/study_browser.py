"""Study browser and worklist: patient / study / series / image, with scores and flags.

A thin widget over :class:`squid_core.session.catalog.Catalog`, which it observes: entries
added or rejected, scores set and the catalog cleared reach the rows through the
catalog's events, with no call from elsewhere. Two views of the same entries:

* **Tree**: patient > study > series > image, each parent showing the highest score of
  its images (a study is as suspicious as its worst image); any column sorts.
* **Worklist**: one row per image, most suspicious first: flagged images and those that
  need review (not applicable to the model, or outside its training data: marked
  "REVIEW") by score, then the other scored ones. Unscored images stay in the list,
  below the scored ones: nothing is ever hidden or dropped for a low score. A filter
  above the list can narrow it to "flagged or needs review" or "needs review"
  at the user's request; it starts at "all images".

Scores arriving during "Analyse all" update rows in place and the list re-sorts. Files
that could not be opened are listed underneath with the reason. The rows live in
:class:`viewer.study_tree_model.StudyTreeModel`; this widget shows them and keeps the
selection.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSplitter,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from squid_core.session.catalog import Catalog
from viewer.session_bridge import subscribe
from viewer.study_tree_model import (
    COL_FLAG,
    COL_NAME,
    COL_SCORE,
    COLUMNS,
    KEY_ROLE,
    StudyTreeModel,
)
from viewer.theme import MUTED

#: Lists up to this many rows re-sort on every score; longer ones in batches.
IMMEDIATE_ROWS = 500
#: How long scores of a long list are gathered before one re-sort (milliseconds).
SCORE_BATCH_MS = 250
#: The filter's choices: (label, mode).
FILTERS = (("All images", "all"), ("Flagged or needs review", "urgent"),
           ("Needs review (not applicable / outside)", "review"))


class StudyBrowser(QWidget):
    """Tree/worklist of the catalog plus the "Could not open" list."""

    #: Key (path string) of the image the user selected.
    imageSelected = Signal(str)

    def __init__(self, catalog: Catalog, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.catalog = catalog
        self._worklist = False
        # Scores of a large list are applied in batches: one sort per batch, not per score.
        self._pending_scores: set[str] = set()
        self._score_timer = QTimer(self)
        self._score_timer.setSingleShot(True)
        self._score_timer.setInterval(SCORE_BATCH_MS)
        self._score_timer.timeout.connect(self._flush_scores)

        self.model = StudyTreeModel(catalog, self)
        self.tree = QTreeView()
        self.tree.setModel(self.model)
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.tree.header()
        # Interactive widths, fitted to the contents once per rebuild: "ResizeToContents"
        # would measure rows again on every score update.
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.resizeSection(COL_NAME, 230)
        header.setStretchLastSection(True)
        # Fit columns to the rows on screen only: measuring thousands of rows stalls.
        header.setResizeContentsPrecision(0)
        self.tree.setSortingEnabled(True)
        self.tree.sortByColumn(COL_NAME, Qt.SortOrder.AscendingOrder)
        self.tree.selectionModel().currentChanged.connect(self._on_current)

        self.filter = QComboBox()
        for text, mode in FILTERS:
            self.filter.addItem(text, mode)
        self.filter.setToolTip("Which images the list shows; 'needs review' = not applicable "
                               "to the model, or outside its training data")
        # Keys of the rows hidden now: the view is told only of changes, since hiding
        # thousands of rows again on each batch of scores stalled the window.
        self._hidden: set[str] = set()
        #: Flag-column texts the column was fitted to (refitted when another kind arrives).
        self._marks_fitted: set[str] = {""}
        self.filter.currentIndexChanged.connect(self._apply_filter)
        self.model.layoutChanged.connect(self._apply_filter)
        self.model.rowsInserted.connect(self._apply_filter)
        self.model.modelReset.connect(self._on_model_reset)
        self.model.dataChanged.connect(self._filter_changed_rows)

        self.rejected_label = QLabel("Could not open")
        self.rejected_label.setStyleSheet(f"color: {MUTED};")
        self.rejected = QListWidget()
        self.rejected.setWordWrap(True)
        rejected_box = QWidget()
        box = QVBoxLayout(rejected_box)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.rejected_label)
        box.addWidget(self.rejected)

        tree_box = QWidget()
        tree_layout = QVBoxLayout(tree_box)
        tree_layout.setContentsMargins(0, 0, 0, 0)
        filter_row = QHBoxLayout()
        filter_row.addWidget(QLabel("Show"))
        filter_row.addWidget(self.filter, 1)
        tree_layout.addLayout(filter_row)
        tree_layout.addWidget(self.tree)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(tree_box)
        self.splitter.addWidget(rejected_box)
        self.splitter.setStretchFactor(0, 4)
        self.splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)
        self.rebuild()
        subscribe(catalog.added, self._on_added, self)
        subscribe(catalog.removed, self._on_removed, self)
        subscribe(catalog.summaries_changed, self._on_summaries_changed, self)
        subscribe(catalog.cleared, self.rebuild, self)

    # -- the catalog's events ---------------------------------------------------------

    def _on_added(self, _entries: list, _rejected: list) -> None:
        self.rebuild()

    def _on_removed(self, key: str, _rejected: object) -> None:
        self.remove(key)

    def _on_summaries_changed(self, keys: list[str]) -> None:
        if len(keys) == 1:
            self.update_score(keys[0])  # batched in a long list during "Analyse all"
        else:
            self._pending_scores.difference_update(keys)
            self.update_scores(keys)

    # -- public ----------------------------------------------------------------------

    @property
    def worklist_mode(self) -> bool:
        """True when showing the flat list sorted by score."""
        return self._worklist

    def set_worklist_mode(self, enabled: bool) -> None:
        """Switch between the tree and the worklist (flat, most suspicious first)."""
        self._worklist = bool(enabled)
        self.model.sort_column, self.model.sort_order = (
            (COL_SCORE, Qt.SortOrder.DescendingOrder) if self._worklist
            else (COL_NAME, Qt.SortOrder.AscendingOrder))
        self.rebuild()

    def rebuild(self) -> None:
        """Rebuild every row from the catalog, keeping the selection."""
        current = self.current_key()
        self._pending_scores.clear()
        self._score_timer.stop()
        self.tree.blockSignals(True)
        self.tree.selectionModel().blockSignals(True)
        self.model.rebuild(self._worklist)
        header = self.tree.header()
        header.blockSignals(True)
        header.setSortIndicator(self.model.sort_column, self.model.sort_order)
        header.blockSignals(False)
        if not self._worklist:
            self.tree.expandAll()
        for col in range(1, len(COLUMNS)):
            self.tree.resizeColumnToContents(col)
            header.resizeSection(col, max(header.sectionSize(col), 48))
        self._marks_fitted = {""}
        if current:
            index = self.model.index_of(current)
            if index.isValid():
                self.tree.setCurrentIndex(index)
        self.tree.selectionModel().blockSignals(False)
        self.tree.blockSignals(False)
        self._rebuild_rejected()

    def update_score(self, key: str) -> None:
        """A score arrived (or was cleared) for ``key``: refresh its row and its parents,
        then re-sort so the worklist order follows the scores.

        Up to ``IMMEDIATE_ROWS`` rows this happens at once; in a longer list the scores
        are gathered for ``SCORE_BATCH_MS`` and applied together.
        """
        self._pending_scores.add(key)
        if len(self.model.nodes) <= IMMEDIATE_ROWS:
            self._flush_scores()
        elif not self._score_timer.isActive():
            self._score_timer.start()

    def _flush_scores(self) -> None:
        self._score_timer.stop()
        keys, self._pending_scores = list(self._pending_scores), set()
        self.update_scores(keys)

    def update_scores(self, keys: list[str]) -> None:
        """Refresh the rows of ``keys`` and their parents, then restore the order."""
        self.model.update_scores(keys)
        # Measuring lays out every row after a re-sort (~50 ms for 5,000 rows): only when
        # a kind of mark not seen since the last fit arrives (e.g. "REVIEW: outside").
        marks = {self.model.index_of(key, COL_FLAG).data() or "" for key in keys}
        if marks - self._marks_fitted:
            self._marks_fitted |= marks
            header = self.tree.header()
            wanted = self.tree.sizeHintForColumn(COL_FLAG)
            if wanted > header.sectionSize(COL_FLAG):
                header.resizeSection(COL_FLAG, wanted)

    def remove(self, key: str) -> None:
        """Take the row of ``key`` out (it moved to the "Could not open" list), with any
        group left empty, and refresh that list. Cheaper than a rebuild mid-analysis."""
        self._pending_scores.discard(key)
        self._hidden.discard(key)
        sibling = self.model.remove(key)
        if sibling:
            self.update_scores(sibling)
        self._rebuild_rejected()

    def refresh_scores(self) -> None:
        """Refresh every row's score (e.g. after scores were cleared for a new model)."""
        self.update_scores(list(self.model.nodes))

    def select(self, key: str) -> bool:
        """Select the image ``key`` (emits ``imageSelected``); False if it is not listed."""
        index = self.model.index_of(key)
        if not index.isValid():
            return False
        self.tree.setCurrentIndex(index)
        self.tree.scrollTo(index)
        return True

    def current_key(self) -> str | None:
        """Key of the selected image, or None when a group (or nothing) is selected."""
        index = self.tree.currentIndex()
        return index.data(KEY_ROLE) if index.isValid() else None

    def visible_keys(self) -> list[str]:
        """Image keys in the order shown (depth first), without those the filter hides."""
        return [k for k in self.model.keys_in_order() if self._shown(k)]

    def set_filter(self, mode: str) -> None:
        """Show ``all`` images, only the ``urgent`` (flagged or needs review) or only the
        ``review`` ones (not applicable or outside the training data)."""
        index = self.filter.findData(mode)
        if index < 0:
            raise ValueError(f"unknown filter {mode!r}")
        self.filter.setCurrentIndex(index)

    def _shown(self, key: str, mode: str | None = None) -> bool:
        mode = mode or self.filter.currentData() or "all"
        node = self.model.nodes.get(key)
        if mode == "all" or node is None:
            return True
        return node.review if mode == "review" else node.urgent

    def _set_hidden(self, key: str, hide: bool) -> None:
        if hide == (key in self._hidden):
            return
        index = self.model.index_of(key)
        if index.isValid():
            self.tree.setRowHidden(index.row(), index.parent(), hide)
            (self._hidden.add if hide else self._hidden.discard)(key)

    def _apply_filter(self, *_args: object) -> None:
        """Hide the image rows the filter excludes (groups stay; nothing is dropped).

        Hidden rows follow their items through a re-sort (the view keeps them as
        persistent indexes), so only rows whose state changes reach the view."""
        mode = self.filter.currentData() or "all"
        if mode == "all" and not self._hidden:
            return
        for key in self.model.nodes:
            self._set_hidden(key, not self._shown(key, mode))

    def _filter_changed_rows(self, top_left: QModelIndex, bottom_right: QModelIndex,
                             *_args: object) -> None:
        """Scores changed in rows ``top_left``..``bottom_right``: filter those rows only."""
        mode = self.filter.currentData() or "all"
        if mode == "all" and not self._hidden:
            return
        parent = top_left.parent()
        for row in range(top_left.row(), bottom_right.row() + 1):
            node = self.model.node(self.model.index(row, 0, parent))
            if node is not None and node.key is not None:
                self._set_hidden(node.key, not self._shown(node.key, mode))

    def _on_model_reset(self) -> None:
        self._hidden.clear()  # a reset shows every row again
        self._apply_filter()

    def row_texts(self, key: str | None = None) -> list[str]:
        """The cells of image ``key``'s row as shown, or of the first row when None."""
        index = self.model.index(0, 0) if key is None else self.model.index_of(key)
        if not index.isValid():
            return []
        return [index.siblingAtColumn(c).data() for c in range(len(COLUMNS))]

    def step(self, delta: int) -> None:
        """Select the next (``delta`` > 0) or previous image in the order shown."""
        keys = self.visible_keys()
        if not keys:
            return
        current = self.current_key()
        index = keys.index(current) + delta if current in keys else 0
        self.select(keys[min(max(index, 0), len(keys) - 1)])

    # -- internals -------------------------------------------------------------------

    def _rebuild_rejected(self) -> None:
        self.rejected.clear()
        for r in self.catalog.rejected:
            item = QListWidgetItem(f"{r.path.name}: {r.reason}")
            item.setToolTip(f"{r.path}\n{r.reason}")
            self.rejected.addItem(item)
        n = len(self.catalog.rejected)
        self.rejected_label.setText(f"Could not open ({n})")
        self.rejected_label.parentWidget().setVisible(n > 0)

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        key = current.data(KEY_ROLE) if current.isValid() else None
        if key:
            self.imageSelected.emit(key)
