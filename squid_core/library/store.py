"""The model library: the bundled default plus the user's models, and which one is active.

One approach to every change: a model's metadata lives only inside its own
``.safetensors`` file, and any change (rename, notes, operating point) rewrites that
file atomically with the tensor bytes streamed over unchanged
(:mod:`squid_core.safetensors_header`). An exported file therefore always
carries its current name and settings, and there is no sidecar to lose.

The active model is a small JSON pointer (``active_model.json``) holding a model
id, written atomically. A pointer to a model that no longer exists is never left
behind by :meth:`ModelLibrary.delete`; if one is found anyway (a file removed by
hand), the library falls back to the bundled default.

Example::

    lib = ModelLibrary()
    entry = lib.import_model("site_model.safetensors")
    lib.activate(entry.id)
    model = squid_core.load_model(lib.active_model().path)
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from squid_core.library.atomic import atomic_copy, atomic_write_json
from squid_core.library.entry import BUNDLED_ID, ModelEntry
from squid_core.library.paths import (
    ACTIVE_POINTER_NAME,
    MODEL_SUFFIX,
    MODELS_SUBDIR,
    bundled_model_path,
    default_data_dir,
)
from squid_core.safetensors_header import (
    ModelFileError,
    read_squid_metadata,
    write_with_squid_metadata,
)

#: Metadata keys that a library edit may change; the rest describe the weights.
EDITABLE_KEYS = frozenset({"name", "notes", "operating_points", "default_operating_point"})


class LibraryError(Exception):
    """A library operation was refused or failed; ``str(e)`` is a message for the user."""


def validate_model_file(path: str | os.PathLike[str]) -> None:
    """Load ``path`` fully with :func:`squid_core.load_model`; ``LibraryError`` if it is bad.

    Loading (not only reading the header) proves that the weights match the stored
    config, so a model that enters the library will also open in the viewer.
    """
    p = Path(path)
    if not p.is_file():
        raise LibraryError(f"{p}: no such file")
    try:
        read_squid_metadata(p)
    except ModelFileError as exc:
        raise LibraryError(f"Not a SQUID Viewer model: {exc}") from exc
    from squid_core import load_model

    try:
        load_model(p, device="cpu")
    except ModelFileError as exc:
        raise LibraryError(f"Not a valid model file: {exc}") from exc
    except Exception as exc:  # any failure to build the model means the file is unusable
        raise LibraryError(
            f"{p.name}: the model could not be loaded ({type(exc).__name__}: {exc})"
        ) from exc


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:40] or "model"


class ModelLibrary:
    """The models available to the viewer, stored under ``data_dir/models``.

    Args:
        data_dir: per-user data folder; default :func:`default_data_dir`.
        bundled_path: the read-only default model; default the installation's
            ``resources/models/default.safetensors``. It may be absent.
        validator: called on every file before it enters the library; raises
            :class:`LibraryError` to refuse it. Default :func:`validate_model_file`.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        bundled_path: str | os.PathLike[str] | None = None,
        validator: Callable[[Path], None] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
        self.models_dir = self.data_dir / MODELS_SUBDIR
        self.bundled_path = Path(bundled_path) if bundled_path is not None else bundled_model_path()
        self._validate = validator or validate_model_file
        #: Files in ``models_dir`` skipped by the last :meth:`list_models`, with reasons.
        self.skipped: list[tuple[Path, str]] = []

    # ----------------------------------------------------------------- listing
    def list_models(self) -> list[ModelEntry]:
        """The bundled model (if present) first, then user models, oldest first."""
        entries: list[ModelEntry] = []
        self.skipped = []
        bundled = self._bundled_entry()
        if bundled is not None:
            entries.append(bundled)
        user: list[ModelEntry] = []
        if self.models_dir.is_dir():
            for path in sorted(self.models_dir.glob(f"*{MODEL_SUFFIX}")):
                if path.name.startswith("."):
                    continue  # a temporary file of an atomic write in progress
                try:
                    user.append(ModelEntry(path.stem, path, False, read_squid_metadata(path)))
                except ModelFileError as exc:
                    self.skipped.append((path, str(exc)))
        user.sort(key=lambda e: (e.created, e.id))
        return entries + user

    def get(self, model_id: str) -> ModelEntry:
        """The entry with this id; ``LibraryError`` if there is none."""
        if model_id == BUNDLED_ID:
            entry = self._bundled_entry()
            if entry is None:
                raise LibraryError("The bundled default model is not installed.")
            return entry
        path = self._user_path(model_id)
        if not path.is_file():
            raise LibraryError(f"No model with id {model_id!r} in the library.")
        try:
            return ModelEntry(model_id, path, False, read_squid_metadata(path))
        except ModelFileError as exc:
            raise LibraryError(str(exc)) from exc

    def _bundled_entry(self) -> ModelEntry | None:
        if not self.bundled_path.is_file():
            return None
        try:
            meta = read_squid_metadata(self.bundled_path)
        except ModelFileError as exc:
            self.skipped.append((self.bundled_path, str(exc)))
            return None
        return ModelEntry(BUNDLED_ID, self.bundled_path, True, meta)

    def _user_path(self, model_id: str) -> Path:
        if not model_id or "/" in model_id or "\\" in model_id or model_id.startswith("."):
            raise LibraryError(f"Invalid model id {model_id!r}.")
        return self.models_dir / f"{model_id}{MODEL_SUFFIX}"

    # ------------------------------------------------------------------ active
    @property
    def pointer_path(self) -> Path:
        return self.data_dir / ACTIVE_POINTER_NAME

    def active_id(self) -> str | None:
        """The active model's id: the pointer if it names an existing model, else the bundled
        default if installed, else ``None``."""
        try:
            stored = json.loads(self.pointer_path.read_text(encoding="utf-8")).get("id")
        except (OSError, ValueError, AttributeError):
            stored = None
        if isinstance(stored, str):
            if stored == BUNDLED_ID and self.bundled_path.is_file():
                return stored
            if stored != BUNDLED_ID and self._user_path(stored).is_file():
                return stored
        return BUNDLED_ID if self.bundled_path.is_file() else None

    def active_model(self) -> ModelEntry | None:
        """The active model's entry, or ``None`` when no model is available at all."""
        model_id = self.active_id()
        return self.get(model_id) if model_id is not None else None

    def activate(self, model_id: str) -> ModelEntry:
        """Make ``model_id`` the active model (persisted atomically) and return its entry."""
        entry = self.get(model_id)
        atomic_write_json(self.pointer_path, {"id": entry.id, "path": str(entry.path)})
        return entry

    # ------------------------------------------------------------------ adding
    def import_model(self, path: str | os.PathLike[str], name: str | None = None) -> ModelEntry:
        """Validate a model file and copy it into the library (the source is left as is)."""
        src = Path(path)
        self._check(src)
        return self._add(src, {"name": name} if name else {}, move=False)

    def add_trained(
        self,
        path: str | os.PathLike[str],
        name: str,
        notes: str = "",
        updates: Mapping[str, Any] | None = None,
        move: bool = True,
    ) -> ModelEntry:
        """Add a freshly trained model file under ``name`` with ``notes``.

        ``updates`` may set other editable keys (e.g. the operating points chosen in
        the wizard). With ``move`` the source file is removed once stored.
        """
        src = Path(path)
        self._check(src)
        changes: dict[str, Any] = dict(updates or {})
        changes.update({"name": name, "notes": notes})
        return self._add(src, changes, move=move)

    def import_reference(
        self,
        generator: str | os.PathLike[str],
        discriminator: str | os.PathLike[str],
        reference_config: str | os.PathLike[str],
        name: str | None = None,
        importer: Callable[..., Any] | None = None,
        **importer_kwargs: Any,
    ) -> ModelEntry:
        """Convert checkpoints of the reference SQUID code and add the result.

        The conversion is :func:`squid_core.cli.import_reference.import_reference`,
        the same one ``squid import-reference`` runs (generator and discriminator
        ``state_dict`` files plus the reference constructor config); ``importer``
        replaces it in tests. It writes a model file, which is validated and stored
        like any import. Its errors (refused pickles, wrong tensors) become
        :class:`LibraryError` with the importer's message.
        """
        for p in (generator, discriminator, reference_config):
            if not Path(p).is_file():
                raise LibraryError(f"{p}: no such file")
        if importer is None:
            from squid_core.cli.import_reference import import_reference as importer
        self.models_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.models_dir / f".import-{uuid.uuid4().hex[:8]}{MODEL_SUFFIX}"
        label = name or Path(generator).stem
        try:
            try:
                importer(generator, discriminator, reference_config, tmp, name=label,
                         **importer_kwargs)
            except Exception as exc:  # the importer's own errors name what is wrong
                raise LibraryError(
                    f"{Path(generator).name}: not a usable reference SQUID checkpoint ({exc})"
                ) from exc
            if not tmp.is_file():
                raise LibraryError(f"{Path(generator).name}: the importer wrote no model file")
            self._check(tmp)
            return self._add(tmp, {"name": label}, move=True)
        finally:
            tmp.unlink(missing_ok=True)

    def _check(self, path: Path) -> None:
        """Run the validator; a header problem it lets through becomes a LibraryError too."""
        try:
            self._validate(path)
        except ModelFileError as exc:
            raise LibraryError(f"Not a SQUID Viewer model: {exc}") from exc

    def _add(self, src: Path, changes: Mapping[str, Any], move: bool) -> ModelEntry:
        try:
            meta = read_squid_metadata(src)
        except ModelFileError as exc:
            raise LibraryError(str(exc)) from exc
        meta.update(changes)
        model_id = f"{_slug(str(meta.get('name') or src.stem))}-{uuid.uuid4().hex[:8]}"
        dst = self._user_path(model_id)
        self.models_dir.mkdir(parents=True, exist_ok=True)
        if changes:
            write_with_squid_metadata(src, dst, meta)
        else:
            atomic_copy(src, dst)
        if move:
            src.unlink(missing_ok=True)
        return ModelEntry(model_id, dst, False, meta)

    # ---------------------------------------------------------------- changing
    def update_metadata(self, model_id: str, changes: Mapping[str, Any]) -> ModelEntry:
        """Change editable metadata keys of a user model; the file is rewritten atomically."""
        unknown = set(changes) - EDITABLE_KEYS
        if unknown:
            raise LibraryError(f"These metadata keys cannot be edited: {sorted(unknown)}")
        entry = self.get(model_id)
        if entry.bundled:
            raise LibraryError("The bundled default model is read-only.")
        meta = dict(entry.metadata)
        meta.update(changes)
        write_with_squid_metadata(entry.path, entry.path, meta)
        return ModelEntry(entry.id, entry.path, False, meta)

    def rename(self, model_id: str, new_name: str) -> ModelEntry:
        """Give a user model a new display name (its id and file stay the same)."""
        new_name = new_name.strip()
        if not new_name:
            raise LibraryError("A model name cannot be empty.")
        return self.update_metadata(model_id, {"name": new_name})

    def export(self, model_id: str, dest: str | os.PathLike[str]) -> Path:
        """Copy a model file to ``dest`` (a file path, or a folder to copy into)."""
        entry = self.get(model_id)
        target = Path(dest)
        if target.is_dir():
            target = target / f"{_slug(entry.name)}{MODEL_SUFFIX}"
        if target.resolve() == entry.path.resolve():
            raise LibraryError("Cannot export a model onto itself.")
        atomic_copy(entry.path, target)
        return target

    def delete(self, model_id: str) -> None:
        """Delete a user model. If it was active, the bundled default becomes active (or no
        model, when none is installed): the pointer never names a missing file."""
        if model_id == BUNDLED_ID:
            raise LibraryError("The bundled default model cannot be deleted.")
        entry = self.get(model_id)
        was_active = self.active_id() == entry.id
        if was_active:
            if self.bundled_path.is_file():
                atomic_write_json(
                    self.pointer_path, {"id": BUNDLED_ID, "path": str(self.bundled_path)}
                )
            else:
                self.pointer_path.unlink(missing_ok=True)
        entry.path.unlink()
