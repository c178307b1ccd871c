"""Settings remembered between runs (QSettings): geometry, folders, overlay, device, recents.

One typed wrapper so every key, default and type lives in one place. Values are
versioned: when ``SCHEMA`` changes, :meth:`AppSettings.migrate` converts old keys.
Tests pass an explicit INI file so they never touch the user's real settings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

from squid_core.display import COLORMAPS, OverlaySettings

#: Version of the settings layout; bump and extend ``migrate`` when keys change.
SCHEMA = 1
#: How many recent files the File menu lists.
MAX_RECENT = 10
#: Devices the user may force; "auto" picks CUDA, then MPS, then the CPU.
DEVICES = ("auto", "cpu", "cuda", "mps")


class AppSettings:
    """Typed access to the viewer's QSettings.

    ``path`` selects an INI file (tests, portable installs); otherwise the platform's
    native store for organisation "SQUID", application "SQUID Viewer" is used.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        if path is None:
            self._q = QSettings("SQUID", "SQUID Viewer")
        else:
            self._q = QSettings(str(path), QSettings.Format.IniFormat)
        self.migrate()

    @property
    def qsettings(self) -> QSettings:
        """The underlying QSettings object."""
        return self._q

    def migrate(self) -> None:
        """Bring an older settings layout up to ``SCHEMA`` (version 0 had no keys)."""
        version = self._int("schema", 0)
        if version < SCHEMA:
            self._q.setValue("schema", SCHEMA)

    def sync(self) -> None:
        """Write pending changes to storage."""
        self._q.sync()

    # -- helpers ---------------------------------------------------------------------

    def _int(self, key: str, default: int) -> int:
        try:
            return int(self._q.value(key, default))
        except (TypeError, ValueError):
            return default

    def _float(self, key: str, default: float) -> float:
        try:
            return float(self._q.value(key, default))
        except (TypeError, ValueError):
            return default

    def _bool(self, key: str, default: bool) -> bool:
        value: Any = self._q.value(key, default)
        if isinstance(value, str):
            return value.lower() in ("1", "true", "yes")
        return bool(value)

    # -- window ----------------------------------------------------------------------

    @property
    def geometry(self) -> QByteArray | None:
        """Saved main-window geometry (``saveGeometry``), or None on first run."""
        value = self._q.value("window/geometry")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    @geometry.setter
    def geometry(self, value: QByteArray) -> None:
        self._q.setValue("window/geometry", value)

    @property
    def window_state(self) -> QByteArray | None:
        """Saved dock and toolbar layout (``saveState``), or None."""
        value = self._q.value("window/state")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    @window_state.setter
    def window_state(self, value: QByteArray) -> None:
        self._q.setValue("window/state", value)

    # -- files -----------------------------------------------------------------------

    @property
    def last_folder(self) -> str:
        """Folder the open dialogs start in."""
        return str(self._q.value("files/last_folder", str(Path.home())))

    @last_folder.setter
    def last_folder(self, value: str | Path) -> None:
        self._q.setValue("files/last_folder", str(value))

    @property
    def recent_files(self) -> list[str]:
        """Most recent first, at most ``MAX_RECENT``."""
        value = self._q.value("files/recent", [])
        if isinstance(value, str):
            value = [value] if value else []
        return [str(v) for v in (value or [])][:MAX_RECENT]

    def add_recent(self, path: str | Path) -> list[str]:
        """Put ``path`` first in the recent list (once) and return the new list."""
        p = str(path)
        recent = [p] + [r for r in self.recent_files if r != p]
        recent = recent[:MAX_RECENT]
        self._q.setValue("files/recent", recent)
        return recent

    def clear_recent(self) -> None:
        """Empty the recent-files list."""
        self._q.setValue("files/recent", [])

    # -- analysis --------------------------------------------------------------------

    @property
    def device(self) -> str:
        """"auto", "cpu", "cuda" or "mps"."""
        value = str(self._q.value("analysis/device", "auto"))
        return value if value in DEVICES else "auto"

    @device.setter
    def device(self, value: str) -> None:
        if value not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, not {value!r}")
        self._q.setValue("analysis/device", value)

    @property
    def model_path(self) -> str:
        """Last model file opened from the menu ("" = the bundled default)."""
        return str(self._q.value("analysis/model_path", ""))

    @model_path.setter
    def model_path(self, value: str | Path) -> None:
        self._q.setValue("analysis/model_path", str(value))

    @property
    def auto_analyse(self) -> bool:
        """Analyse an image as soon as it is shown (when a model is loaded)."""
        return self._bool("analysis/auto", True)

    @auto_analyse.setter
    def auto_analyse(self, value: bool) -> None:
        self._q.setValue("analysis/auto", bool(value))

    @property
    def compile_model(self) -> bool:
        """Compile the scoring networks for this computer (torch.compile) when a model is
        loaded: faster scoring of each image after a one-off compilation."""
        return self._bool("analysis/compile", False)

    @compile_model.setter
    def compile_model(self, value: bool) -> None:
        self._q.setValue("analysis/compile", bool(value))

    # -- exports ---------------------------------------------------------------------

    @property
    def anonymise_exports(self) -> bool:
        """Strip identifying tags from exported DICOM and CSV by default."""
        return self._bool("exports/anonymise", True)

    @anonymise_exports.setter
    def anonymise_exports(self, value: bool) -> None:
        self._q.setValue("exports/anonymise", bool(value))

    # -- overlay ---------------------------------------------------------------------

    @property
    def overlay(self) -> OverlaySettings:
        """Heatmap colormap, opacity, threshold and visibility."""
        d = OverlaySettings()
        colormap = str(self._q.value("overlay/colormap", d.colormap))
        return OverlaySettings(
            # a colormap this version does not offer (an older one's "CET-L3"): the default
            colormap=colormap if colormap in COLORMAPS else d.colormap,
            opacity=min(max(self._float("overlay/opacity", d.opacity), 0.0), 1.0),
            threshold=self._float("overlay/threshold", d.threshold),
            visible=self._bool("overlay/visible", d.visible),
        )

    @overlay.setter
    def overlay(self, value: OverlaySettings) -> None:
        self._q.setValue("overlay/colormap", value.colormap)
        self._q.setValue("overlay/opacity", float(value.opacity))
        self._q.setValue("overlay/threshold", float(value.threshold))
        self._q.setValue("overlay/visible", bool(value.visible))

    # -- PACS --------------------------------------------------------------------------

    @property
    def pacs_nodes(self) -> list[dict]:
        """Remote nodes as ``{"name", "ae_title", "host", "port"}`` or ``{"name", "url"}``
        entries (the format of ``squid_core.net.nodes.parse_nodes``)."""
        try:
            doc = json.loads(str(self._q.value("pacs/nodes", "[]")))
        except ValueError:
            return []
        return [d for d in doc if isinstance(d, dict)] if isinstance(doc, list) else []

    @pacs_nodes.setter
    def pacs_nodes(self, value: list[dict]) -> None:
        self._q.setValue("pacs/nodes", json.dumps(list(value)))

    @property
    def pacs_ae_title(self) -> str:
        """Our AE title: calling AE title of queries, and the C-MOVE destination."""
        return str(self._q.value("pacs/ae_title", "SQUIDVIEWER"))

    @pacs_ae_title.setter
    def pacs_ae_title(self, value: str) -> None:
        self._q.setValue("pacs/ae_title", str(value))

    @property
    def pacs_scp_port(self) -> int:
        """Port of our Storage SCP (C-MOVE answers and, when enabled, the receiver)."""
        return self._int("pacs/scp_port", 11112)

    @pacs_scp_port.setter
    def pacs_scp_port(self, value: int) -> None:
        self._q.setValue("pacs/scp_port", int(value))

    @property
    def pacs_auto_send(self) -> bool:
        """Send the SC and SR of each image retrieved from a node back to it once analysed."""
        return self._bool("pacs/auto_send", False)

    @pacs_auto_send.setter
    def pacs_auto_send(self, value: bool) -> None:
        self._q.setValue("pacs/auto_send", bool(value))

    @property
    def pacs_receive(self) -> bool:
        """Run the built-in Storage SCP (off by default)."""
        return self._bool("pacs/receive", False)

    @pacs_receive.setter
    def pacs_receive(self, value: bool) -> None:
        self._q.setValue("pacs/receive", bool(value))

    @property
    def pacs_allowed_aets(self) -> list[str]:
        """Calling AE titles the built-in SCP accepts (none: it does not start)."""
        value = self._q.value("pacs/allowed_aets", [])
        if isinstance(value, str):
            value = [value] if value else []
        return [str(v) for v in (value or []) if str(v).strip()]

    @pacs_allowed_aets.setter
    def pacs_allowed_aets(self, value: list[str]) -> None:
        self._q.setValue("pacs/allowed_aets", [str(v) for v in value])

    @property
    def pacs_receive_tls(self) -> bool:
        """Our Storage SCP (the receiver, and the one a C-MOVE starts) listens with DICOM
        TLS, with ``pacs_receive_tls_cert``/``_key`` (and ``_ca``: callers' CA)."""
        return self._bool("pacs/receive_tls", False)

    @pacs_receive_tls.setter
    def pacs_receive_tls(self, value: bool) -> None:
        self._q.setValue("pacs/receive_tls", bool(value))

    @property
    def pacs_receive_tls_cert(self) -> str:
        """Our Storage SCP's TLS certificate (PEM file)."""
        return str(self._q.value("pacs/receive_tls_cert", ""))

    @pacs_receive_tls_cert.setter
    def pacs_receive_tls_cert(self, value: str) -> None:
        self._q.setValue("pacs/receive_tls_cert", str(value))

    @property
    def pacs_receive_tls_key(self) -> str:
        """The private key of ``pacs_receive_tls_cert`` (PEM file)."""
        return str(self._q.value("pacs/receive_tls_key", ""))

    @pacs_receive_tls_key.setter
    def pacs_receive_tls_key(self, value: str) -> None:
        self._q.setValue("pacs/receive_tls_key", str(value))

    @property
    def pacs_receive_tls_ca(self) -> str:
        """CA certificate(s) callers' certificates must be signed by ("": none asked)."""
        return str(self._q.value("pacs/receive_tls_ca", ""))

    @pacs_receive_tls_ca.setter
    def pacs_receive_tls_ca(self, value: str) -> None:
        self._q.setValue("pacs/receive_tls_ca", str(value))
