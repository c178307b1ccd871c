"""SQUID Viewer: the PySide6 + pyqtgraph desktop application.

Thin widgets over pure logic: ``squid_core.display`` (orientation, windows, overlay
colours) and ``catalog`` (what is open, scores, worklist order) hold no Qt; one module per
pane or dialog displays them. Start with ``python main.py`` or :func:`viewer.app.main`.
"""
