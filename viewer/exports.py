"""Report images (PNG and PDF) drawn with Qt, and the glue to the DICOM/CSV exports.

The report shows the original as on screen, the heatmap over it, the score with its
operating point and flag, the model name and version, the device, the date of the
analysis and the research-use note. One painting function serves both outputs: a
QImage for PNG and a QPdfWriter (QtGui; QtPrintSupport is not needed) for PDF.

DICOM Secondary Capture, DICOM SR and CSV are written by :mod:`squid_core.exports`
(no Qt there); the functions here only collect what the viewer shows and call them.
What is on screen comes as a :class:`~squid_core.display.screen_view.ScreenView` (the session's
image, frame and result, the view state and the overlay's look: values), never read
back out of the panes.

Every file is written atomically: the report is encoded in memory, then written to a
temporary file beside the target and renamed into place. On a full or read-only disk
an earlier file of that name is left as it was, no temporary file remains, and a
:class:`~squid_core.atomic_file.FileWriteError` (an OSError) names the file and the
reason ("No space left on device", "Read-only file system"...).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtCore import QBuffer, QIODevice, QMarginsF, QPointF, QRectF, QSizeF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QImage,
    QLinearGradient,
    QPageLayout,
    QPageSize,
    QPainter,
    QPdfWriter,
)

from squid_core.atomic_file import write_files_atomically
from squid_core.display.screen_view import ScreenView
from squid_core.exports import (
    save_datasets,
    score_report,
    secondary_capture,
    write_scores_csv,
)
from squid_core.scoring.result import SCORED, verdict
from squid_core.scoring.summary import ResultSummary
from squid_core.session.catalog import Catalog, csv_rows
from viewer.score_panel import RESEARCH_NOTE


@dataclass
class ReportContent:
    """Everything a report shows; built from the image and result on screen."""

    original: np.ndarray
    overlay: np.ndarray
    score: float
    flagged: bool | None
    operating_point: str
    raw_logit: float
    model: str
    device: str
    source: str
    heatmap_units: str
    heatmap_scale_max: float
    colormap_lut: np.ndarray | None = None
    analysed_at: _dt.datetime = field(default_factory=lambda: _dt.datetime.now().astimezone())
    study_lines: list[str] = field(default_factory=list)
    status: str = "scored"
    status_reason: str = ""


def report_content(view: ScreenView, source: str,
                   study_lines: list[str] | None = None) -> ReportContent:
    """Collect a report of the image on screen and its ``AnalysisResult``."""
    result = view.result
    if view.image is None or result is None or result.score is None:
        raise ValueError("nothing to report: open an image and analyse it first")
    original, overlay, lut = view.original(), view.overlay_image(), view.overlay.lut
    op = result.operating_point
    op_text = "none set" if op is None else f"{op.name} (flag if score ≥ {op.threshold:.1f})"
    return ReportContent(
        original=original, overlay=overlay, score=float(result.score), flagged=result.flagged,
        operating_point=op_text, raw_logit=float(result.raw_logit),
        model=f"{result.model_name} {result.model_version}".strip(), device=str(result.device),
        source=source, heatmap_units=str(result.heatmap_units or ""),
        heatmap_scale_max=float(result.heatmap_scale_max or 0.0), colormap_lut=lut,
        study_lines=list(study_lines or []), status=str(getattr(result, "status", "scored")),
        status_reason=str(getattr(result, "status_reason", "")))


def _qimage(rgb: np.ndarray) -> QImage:
    arr = np.ascontiguousarray(rgb[:, :, :3].astype(np.uint8))
    h, w = arr.shape[:2]
    return QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def _fit(size: tuple[int, int], box: QRectF) -> QRectF:
    """The largest rect of aspect ``size`` (w, h) centred in ``box``."""
    w, h = size
    scale = min(box.width() / max(w, 1), box.height() / max(h, 1))
    out = QRectF(0, 0, w * scale, h * scale)
    out.moveCenter(box.center())
    return out


def paint_report(painter: QPainter, page: QRectF, c: ReportContent) -> None:
    """Draw the report into ``page`` (any device: image or PDF), on white."""
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    painter.fillRect(page, QColor("white"))
    unit = page.height() / 100.0
    margin = 4 * unit
    x0, y = page.left() + margin, page.top() + margin
    width = page.width() - 2 * margin

    def text(line: str, size: float, bold: bool = False, colour: str = "#111111") -> None:
        nonlocal y
        font = QFont("Sans Serif")
        font.setPixelSize(max(int(size * unit), 6))
        font.setBold(bold)
        painter.setFont(font)
        painter.setPen(QColor(colour))
        rect = QRectF(x0, y, width, size * unit * 1.5)
        painter.drawText(rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, line)
        y += size * unit * 1.5

    text("SQUID Viewer — anomaly analysis report", 4.0, bold=True)
    when = f"analysed {c.analysed_at:%Y-%m-%d %H:%M %Z}".strip()
    text("    ".join(x for x in (c.source, when) if x), 2.2, colour="#444444")
    for line in c.study_lines:
        text(line, 2.2, colour="#444444")

    images_top = y + unit
    images_h = page.bottom() - margin - 24 * unit - images_top
    half = (width - 2 * unit) / 2
    labels = ("Original", f"Heatmap over original (0–{c.heatmap_scale_max:.3g} {c.heatmap_units})")
    for i, (img, label) in enumerate(((c.original, labels[0]), (c.overlay, labels[1]))):
        box = QRectF(x0 + i * (half + 2 * unit), images_top + 3 * unit, half, images_h - 3 * unit)
        painter.fillRect(box, QColor("black"))
        painter.drawImage(_fit((img.shape[1], img.shape[0]), box), _qimage(img))
        font = QFont("Sans Serif")
        font.setPixelSize(max(int(2.2 * unit), 6))
        painter.setFont(font)
        painter.setPen(QColor("#111111"))
        painter.drawText(QRectF(box.left(), images_top, half, 3 * unit),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, label)
    y = images_top + images_h + unit

    if c.colormap_lut is not None and len(c.colormap_lut):
        bar = QRectF(x0 + half + 2 * unit, y, half, 1.6 * unit)
        grad = QLinearGradient(bar.topLeft(), bar.topRight())
        n = len(c.colormap_lut)
        for k in range(0, n, max(1, n // 32)):
            r, g, b = (int(v) for v in c.colormap_lut[k][:3])
            grad.setColorAt(k / (n - 1), QColor(r, g, b))
        painter.fillRect(bar, grad)
        font = QFont("Sans Serif")
        font.setPixelSize(max(int(1.8 * unit), 6))
        painter.setFont(font)
        painter.setPen(QColor("#111111"))
        ticks = QRectF(bar.left(), bar.bottom(), bar.width(), 2.4 * unit)
        painter.drawText(ticks, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, "0")
        painter.drawText(ticks, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                         f"{c.heatmap_scale_max:.3g} {c.heatmap_units}".strip())

    flag = {True: "FLAGGED", False: "not flagged", None: "no operating point"}[c.flagged]
    colour = {True: "#c0392b", False: "#1e8449", None: "#444444"}[c.flagged]
    if c.status != SCORED:  # never "not flagged": the model cannot vouch for this score
        flag, colour = f"NEEDS REVIEW ({verdict(c.status, c.flagged)})", "#9a6700"
    y += 2.5 * unit
    text(f"Anomaly score {c.score:.1f} / 100 — {flag}", 4.0, bold=True, colour=colour)
    if c.status_reason:
        text(c.status_reason[:160], 2.4, bold=True, colour="#9a6700")
    text(f"Operating point: {c.operating_point}    raw logit {c.raw_logit:.4f}", 2.4)
    text(f"Model: {c.model}    device: {c.device}", 2.4)
    text(RESEARCH_NOTE, 2.4, bold=True, colour="#9a6700")
    painter.restore()


def _memory_device() -> QBuffer:
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    return buffer


def save_report_png(path: str | Path, content: ReportContent, width: int = 1800) -> Path:
    """Write the report as a PNG ``width`` pixels wide (A4 landscape proportions)."""
    height = int(round(width / 1.414))
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    try:
        paint_report(painter, QRectF(0, 0, width, height), content)
    finally:
        painter.end()
    path = Path(path)
    buffer = _memory_device()
    if not image.save(buffer, "PNG"):
        raise OSError(f"cannot write the PNG report {path}: the image could not be encoded")
    write_files_atomically({path: bytes(buffer.data())}, "PNG report")
    return path


def save_report_pdf(path: str | Path, content: ReportContent) -> Path:
    """Write the report as a one-page A4 landscape PDF."""
    path = Path(path)
    buffer = _memory_device()
    writer = QPdfWriter(buffer)
    writer.setTitle(f"SQUID report: score {content.score:.1f}")
    writer.setCreator("SQUID Viewer")
    writer.setResolution(150)
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4),
                                     QPageLayout.Orientation.Landscape,
                                     QMarginsF(0, 0, 0, 0)))
    painter = QPainter(writer)
    try:
        rect = painter.viewport()
        paint_report(painter, QRectF(QPointF(0, 0), QSizeF(rect.width(), rect.height())),
                     content)
    finally:
        painter.end()
    data = bytes(buffer.data())
    if not data.startswith(b"%PDF"):
        raise OSError(f"cannot write the PDF report {path}: the PDF could not be drawn")
    write_files_atomically({path: data}, "PDF report")
    return path


def secondary_capture_job(view: ScreenView, anonymise: bool) -> Callable[[str | Path], Path]:
    """Collect the heatmap pane as on screen (GUI thread) and return the function that
    writes it as a DICOM Secondary Capture (safe to run in a worker: no Qt inside)."""
    if view.image is None or view.result is None:
        raise ValueError("nothing to export: open an image and analyse it first")
    overlay = view.overlay_image()
    image = view.image
    header = getattr(image, "header", None)
    spacing = getattr(getattr(image, "meta", None), "pixel_spacing_mm", None)
    if spacing and view.state.rotation % 2:  # rows and columns swapped on screen
        spacing = (spacing[1], spacing[0])

    def write(path: str | Path) -> Path:
        ds = secondary_capture(overlay, header, anonymise=anonymise, pixel_spacing=spacing)
        save_datasets({path: ds}, "DICOM Secondary Capture")
        return Path(path)

    return write


def structured_report_job(view: ScreenView, anonymise: bool) -> Callable[[str | Path], Path]:
    """Collect the score on screen (GUI thread) and return the function that writes it as
    a DICOM Comprehensive SR referencing the analysed image (no Qt inside).

    For a PNG/JPEG source there is no DICOM image to reference, so the SR references a
    Secondary Capture of the original (in a new study), written beside it as
    ``<name>_source_sc.dcm``; the two files are written together, all or none.
    """
    result = view.result
    image = view.image
    if result is None or image is None:
        raise ValueError("nothing to export: open an image and analyse it first")
    record = ResultSummary.from_result(result)
    header = getattr(image, "header", None)
    original = None
    if header is None or "SOPInstanceUID" not in header:
        original = view.original()

    def write(path: str | Path) -> Path:
        path = Path(path)
        files = {}
        if original is not None:
            evidence = secondary_capture(original, None,
                                         description="Source image of a SQUID analysis")
            files[path.with_name(path.stem + "_source_sc.dcm")] = evidence
        else:
            evidence = header
        files[path] = score_report(record, evidence, anonymise=anonymise)
        save_datasets(files, "DICOM SR")
        return path

    return write


def save_scores_csv(path: str | Path, catalog: Catalog, anonymise: bool) -> int:
    """Scores of every opened image (unscored ones too); returns the number of rows."""
    return write_scores_csv(path, csv_rows(catalog), anonymise=anonymise)
