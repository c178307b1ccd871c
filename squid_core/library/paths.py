"""Where the model library lives on disk.

* The bundled default model ships with the application at
  ``resources/models/default.safetensors`` and is never written to.
* The user's models live in ``<data dir>/models/``, where the data dir is the
  platform's per-user data folder (``platformdirs.user_data_dir("squid-viewer")``),
  or ``$SQUID_VIEWER_DATA_DIR`` when set (tests, portable installs).
* The active model pointer is ``<data dir>/active_model.json``.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "squid-viewer"
DATA_DIR_ENV = "SQUID_VIEWER_DATA_DIR"
MODELS_SUBDIR = "models"
ACTIVE_POINTER_NAME = "active_model.json"
MODEL_SUFFIX = ".safetensors"


def default_data_dir() -> Path:
    """The per-user data folder: ``$SQUID_VIEWER_DATA_DIR`` if set, else the platform's."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def bundled_model_path() -> Path:
    """``resources/models/default.safetensors`` of this installation (it may not exist)."""
    return Path(__file__).resolve().parents[2] / "resources" / "models" / "default.safetensors"
