"""Atomic writes of the library's files (see `squid_core.atomic_file`).

A reader (another viewer instance, or this one after a crash) therefore sees either
the old or the new content, never a half-written file.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from squid_core.atomic_file import atomic_output


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` by ``data`` atomically."""
    with atomic_output(path) as fh:
        fh.write(data)


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Replace ``path`` by ``obj`` as indented UTF-8 JSON, atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def atomic_copy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """Copy ``src`` to ``dst`` atomically (the destination never holds a partial copy)."""
    with atomic_output(dst) as out, Path(src).open("rb") as inp:
        shutil.copyfileobj(inp, out, length=4 * 1024 * 1024)
