"""The study browser as a user drives it: tree and worklist order, header sorting,
group scores, removal, and a selection that survives re-sorting. The browser observes
its catalog: every change here is made to the catalog only (as the session makes it),
never by a call to the browser."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt

from squid_core.scoring.operating_point import OperatingPoint
from squid_core.scoring.summary import ResultSummary
from squid_core.session.catalog import Catalog, Entry, Rejected
from viewer.study_browser import IMMEDIATE_ROWS, StudyBrowser
from viewer.study_tree_model import COL_FLAG, COL_NAME, COL_SCORE, KEY_ROLE


def _summary(score: float, flagged: bool | None) -> ResultSummary:
    """A summary flagged as asked: read at a point whose threshold puts ``score`` on that
    side (no point for ``flagged=None``); the flag is always derived from the point."""
    op = None if flagged is None else OperatingPoint("balanced", score if flagged else score + 1)
    return ResultSummary(score=score, raw_logit=0.0, operating_point=op, model_name="m",
                         model_version="1", device="cpu", seconds=0.01)


def _dicom(i: int, patient: str, study: str, series: str) -> Entry:
    return Entry(path=Path(f"/archive/{patient}/{study}/{series}/im{i:03d}.dcm"),
                 patient_id=patient, patient_name=f"Name^{patient}", study_uid=study,
                 study_description=f"Chest {study}", series_uid=series, modality="CR",
                 instance_number=i, is_dicom=True)


@pytest.fixture
def catalog() -> Catalog:
    cat = Catalog()
    cat.add([_dicom(1, "P1", "S1", "A"), _dicom(2, "P1", "S1", "A"), _dicom(3, "P1", "S2", "B"),
             _dicom(4, "P2", "S3", "C")]
            + [Entry(path=Path(f"/pngs/img{i}.png")) for i in range(3)])
    return cat


@pytest.fixture
def browser(qtbot, catalog: Catalog) -> StudyBrowser:
    widget = StudyBrowser(catalog)
    qtbot.addWidget(widget)
    widget.resize(500, 600)
    widget.show()
    return widget


def _score(browser: StudyBrowser, key: str, score: float, flagged: bool | None = None) -> None:
    """A score arrives in the catalog; the browser follows by the catalog's event."""
    browser.catalog.set_summary(key, _summary(score, flagged))


def _keys(cat: Catalog) -> list[str]:
    return list(cat.entries)


def test_tree_groups_show_counts_and_the_worst_score(browser: StudyBrowser, catalog: Catalog) -> None:
    model = browser.tree.model()
    names = [model.index(r, COL_NAME).data() for r in range(model.rowCount())]
    assert names == ["Folder pngs  [3]", "Name^P1 — P1  [3]", "Name^P2 — P2  [1]"]
    k = _keys(catalog)
    _score(browser, k[0], 20.0, False)
    _score(browser, k[2], 85.5, True)
    p1 = model.index(1, 0)
    assert model.index(1, COL_SCORE).data() == "85.5"
    assert model.index(1, COL_FLAG).data() == "FLAG"
    study_scores = sorted(model.index(r, COL_SCORE, p1).data() for r in range(model.rowCount(p1)))
    assert study_scores == ["20.0", "85.5"]
    assert model.index(2, COL_SCORE).data() == "—"  # P2 not scored yet


def test_worklist_follows_scores_and_keeps_unscored_rows(browser: StudyBrowser, catalog: Catalog) -> None:
    browser.set_worklist_mode(True)
    k = _keys(catalog)
    for key, score in zip(k[:3], (10.0, 90.0, 50.0), strict=True):
        _score(browser, key, score, score > 40)
        shown = browser.visible_keys()
        assert len(shown) == len(k)  # nothing hidden
        assert shown == [e.key for e in catalog.worklist()]
    assert browser.visible_keys()[:3] == [k[1], k[2], k[0]]
    assert browser.row_texts()[COL_SCORE] == "90.0"
    header = browser.tree.header()
    assert (header.sortIndicatorSection(), header.sortIndicatorOrder()) == (
        COL_SCORE, Qt.SortOrder.DescendingOrder)


def test_header_click_sorts_and_selection_survives_resorting(browser: StudyBrowser, catalog: Catalog,
                                                             qtbot) -> None:
    browser.set_worklist_mode(True)
    k = _keys(catalog)
    for key, score in zip(k, (30, 60, 10, 80, 20, 50, 40), strict=True):
        _score(browser, key, float(score))
    with qtbot.waitSignal(browser.imageSelected) as sel:
        assert browser.select(k[2])
    assert sel.args == [k[2]]
    # A click on the score header flips the order (a real header section click).
    header = browser.tree.header()
    x = header.sectionViewportPosition(COL_SCORE) + header.sectionSize(COL_SCORE) // 2
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(x, header.height() // 2))
    scores = [catalog.entries[key].score for key in browser.visible_keys()]
    assert scores == sorted(scores)
    # The selected image keeps its selection through a re-sort that moves it to the top.
    _score(browser, k[2], 5.0)
    assert browser.current_key() == k[2]
    assert browser.visible_keys()[0] == k[2]
    assert browser.tree.currentIndex().data(KEY_ROLE) == k[2]
    # ... and the view highlights its row where it now is, not where it was.
    moved = browser.model.index_of(k[2])
    assert moved.row() == 0 and browser.tree.currentIndex() == moved
    assert browser.tree.selectionModel().isSelected(moved)


def test_step_walks_the_order_shown(browser: StudyBrowser, catalog: Catalog, qtbot) -> None:
    seen: list[str] = []
    browser.imageSelected.connect(seen.append)
    order = browser.visible_keys()
    for _ in range(len(order) + 2):  # past the end it stays on the last image
        browser.step(1)
    assert seen[: len(order)] == order and browser.current_key() == order[-1]
    browser.step(-1)
    assert browser.current_key() == order[-2]


def test_remove_drops_empty_groups_and_updates_the_parent(browser: StudyBrowser, catalog: Catalog) -> None:
    model = browser.tree.model()
    k = _keys(catalog)
    _score(browser, k[0], 70.0)
    _score(browser, k[1], 30.0)
    p2_key = k[3]  # the only image of patient P2
    catalog.reject(p2_key, "unreadable")  # found unreadable when analysed
    names = [model.index(r, COL_NAME).data() for r in range(model.rowCount())]
    assert names == ["Folder pngs  [3]", "Name^P1 — P1  [3]"]
    assert browser.rejected.count() == 1 and "unreadable" in browser.rejected.item(0).text()
    catalog.reject(k[0], "unreadable too")
    assert model.index(1, COL_NAME).data() == "Name^P1 — P1  [2]"
    assert model.index(1, COL_SCORE).data() == "30.0"  # the worst remaining image
    assert k[0] not in browser.visible_keys() and len(browser.visible_keys()) == 5


def _long_worklist(qtbot) -> StudyBrowser:
    """A worklist longer than IMMEDIATE_ROWS: its scores are applied in batches."""
    cat = Catalog()
    cat.add([Entry(path=Path(f"/many/img{i:05d}.png")) for i in range(IMMEDIATE_ROWS + 50)])
    browser = StudyBrowser(cat)
    qtbot.addWidget(browser)
    browser.set_worklist_mode(True)
    return browser


def test_long_lists_apply_scores_in_batches(qtbot) -> None:
    browser = _long_worklist(qtbot)
    cat = browser.catalog
    keys = list(cat.entries)
    for i, key in enumerate(keys[:20]):
        _score(browser, key, float(i))
    assert browser.row_texts()[COL_SCORE] == "—"  # not applied yet: gathered for one sort
    qtbot.waitUntil(lambda: browser.row_texts()[COL_SCORE] == "19.0", timeout=3000)
    assert browser.visible_keys()[:3] == [keys[19], keys[18], keys[17]]


def test_names_sort_naturally(qtbot) -> None:
    cat = Catalog()
    cat.add([_dicom(i, "P1", "S1", "A") for i in (10, 2, 1)]
            + [Entry(path=Path(f"/f/img{i}.png")) for i in (10, 9)])
    browser = StudyBrowser(cat)
    qtbot.addWidget(browser)
    names = [Path(k).name for k in browser.visible_keys()]
    assert names == ["img9.png", "img10.png", "im001.dcm", "im002.dcm", "im010.dcm"]
    model = browser.tree.model()
    series = model.index(0, 0, model.index(0, 0, model.index(1, 0)))
    assert [model.index(r, 0, series).data() for r in range(3)] == [
        "#1  im001.dcm", "#2  im002.dcm", "#10  im010.dcm"]


def _hidden_keys(browser: StudyBrowser) -> set[str]:
    """The image rows the view hides, as the view itself says."""
    out = set()
    for key in browser.catalog.entries:
        index = browser.model.index_of(key)
        if browser.tree.isRowHidden(index.row(), index.parent()):
            out.add(key)
    return out


def test_filter_follows_rows_through_resorting(browser: StudyBrowser, catalog: Catalog) -> None:
    browser.set_worklist_mode(True)
    keys = _keys(catalog)
    browser.set_filter("urgent")
    assert _hidden_keys(browser) == set(keys)  # nothing scored: nothing urgent
    _score(browser, keys[5], 90.0, True)  # flagged: shown, and sorted to the top
    _score(browser, keys[0], 10.0, False)  # scored, not flagged: stays hidden
    _score(browser, keys[2], 95.0, True)
    assert _hidden_keys(browser) == set(keys) - {keys[5], keys[2]}
    assert browser.visible_keys() == [keys[2], keys[5]]
    _score(browser, keys[5], 20.0, False)  # re-scored below the threshold: hidden again
    assert _hidden_keys(browser) == set(keys) - {keys[2]}
    browser.set_filter("all")
    assert _hidden_keys(browser) == set()
    browser.set_worklist_mode(False)  # a rebuild keeps the filter's view
    browser.set_filter("urgent")
    assert _hidden_keys(browser) == set(keys) - {keys[2]}


def test_scores_in_a_long_unfiltered_list_touch_no_hidden_rows(qtbot, monkeypatch) -> None:
    """Hiding every row again per batch of scores stalled "Analyse all" on 5,000 images."""
    browser = _long_worklist(qtbot)
    cat = browser.catalog
    calls: list[int] = []
    original = browser.tree.setRowHidden
    monkeypatch.setattr(browser.tree, "setRowHidden", lambda *a: (calls.append(1), original(*a)))
    keys = list(cat.entries)
    for i, key in enumerate(keys[:30]):
        _score(browser, key, float(i), i % 2 == 0)
    qtbot.waitUntil(lambda: browser.row_texts(keys[29])[COL_SCORE] == "29.0", timeout=3000)
    assert calls == []
    browser.set_filter("urgent")  # now each unflagged row is hidden once
    assert len(calls) == len(cat.entries) - 15


def test_flag_column_widens_when_a_review_mark_arrives(qtbot, monkeypatch) -> None:
    import dataclasses

    from squid_core.scoring.result import OUTSIDE

    browser = _long_worklist(qtbot)
    cat = browser.catalog
    browser.show()
    keys = list(cat.entries)
    measured: list[int] = []
    original = browser.tree.sizeHintForColumn
    monkeypatch.setattr(browser.tree, "sizeHintForColumn",
                        lambda col: measured.append(col) or original(col))
    for i, key in enumerate(keys[:10]):
        _score(browser, key, float(i), i % 2 == 0)
    qtbot.waitUntil(lambda: browser.row_texts(keys[9])[COL_SCORE] == "9.0", timeout=3000)
    assert len(measured) == 1  # "FLAGGED" and "" arrived: measured once, not per batch
    outside = dataclasses.replace(_summary(99.0, True), status=OUTSIDE)
    browser.catalog.set_summary(keys[20], outside)
    qtbot.waitUntil(lambda: browser.row_texts(keys[20])[COL_FLAG] == "REVIEW: outside",
                    timeout=3000)
    assert len(measured) == 2
    assert browser.tree.header().sectionSize(COL_FLAG) >= original(COL_FLAG)


def test_the_browser_follows_the_catalog_without_being_told(browser: StudyBrowser,
                                                             catalog: Catalog) -> None:
    """Entries added, scores set and cleared, everything cleared: each reaches the rows
    through the catalog's events alone."""
    model = browser.tree.model()
    k = _keys(catalog)
    catalog.set_summary(k[2], _summary(88.0, True))
    assert browser.row_texts(k[2])[COL_SCORE] == "88.0"
    assert browser.row_texts(k[2])[COL_FLAG] == "FLAG"
    catalog.set_summaries({k[0]: _summary(12.0, False), k[1]: _summary(64.5, True)})
    assert [browser.row_texts(key)[COL_SCORE] for key in k[:3]] == ["12.0", "64.5", "88.0"]
    assert model.index(1, COL_SCORE).data() == "88.0"  # patient P1: its worst image
    catalog.add([_dicom(9, "P3", "S9", "Z")], [Rejected(Path("/x/broken.dcm"), "truncated")])
    assert len(browser.visible_keys()) == len(k) + 1
    assert browser.rejected.count() == 1
    catalog.clear_scores()  # another model: every row back to unscored
    assert all(browser.row_texts(key)[COL_SCORE] == "—" for key in k)
    catalog.clear()
    assert browser.visible_keys() == [] and browser.rejected.count() == 0


def test_a_destroyed_browser_no_longer_follows_its_catalog(qtbot) -> None:
    cat = Catalog()
    cat.add([Entry(path=Path("/a/one.png"))])
    browser = StudyBrowser(cat)
    assert len(cat.summaries_changed) == 1
    browser.deleteLater()
    qtbot.waitUntil(lambda: len(cat.summaries_changed) == 0, timeout=3000)
    cat.set_summary("/a/one.png", _summary(50.0, True))  # nothing left to call: no error
