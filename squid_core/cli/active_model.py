"""Which model a command uses when ``--model`` is not given: the library's active one.

The model library (`squid_core.library`) keeps an active-model pointer, shared with the
viewer; without one (or when it names a missing file) the bundled default model is
active. Commands print which model they use, so a table of scores is never ambiguous.
"""

from __future__ import annotations

from pathlib import Path


def model_path(explicit: Path | None) -> tuple[Path | None, str]:
    """(path, how it was chosen) for ``--model``; path None when there is no model at all."""
    if explicit is not None:
        return explicit, "--model"
    from squid_core.library.store import LibraryError, ModelLibrary

    library = ModelLibrary()
    try:
        entry = library.active_model()
    except LibraryError:
        entry = None
    if entry is None:
        return None, "no --model given and the model library has no model"
    how = "the bundled default model" if entry.bundled else "the library's active model"
    return entry.path, how
