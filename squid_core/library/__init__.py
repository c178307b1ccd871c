"""The model library: bundled default, user models, the active model. Pure Python, no Qt.

See :mod:`squid_core.library.store` for how models are stored and changed::

    from squid_core.library import ModelLibrary
    lib = ModelLibrary()                  # $SQUID_VIEWER_DATA_DIR or the platform data dir
    for entry in lib.list_models():
        print(entry.id, entry.name, entry.created, entry.metrics_summary())
"""

from squid_core.library.entry import BUNDLED_ID, ModelEntry
from squid_core.library.paths import bundled_model_path, default_data_dir
from squid_core.library.store import LibraryError, ModelLibrary, validate_model_file

__all__ = [
    "BUNDLED_ID",
    "LibraryError",
    "ModelEntry",
    "ModelLibrary",
    "bundled_model_path",
    "default_data_dir",
    "validate_model_file",
]
