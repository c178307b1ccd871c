"""The ``squid`` command line.

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``, which adds an ``argparse`` sub-parser whose ``func``
default runs the command and returns an exit code. Modules are discovered, so a
new command is a new file. Heavy imports (torch, pydicom) happen inside the
command functions, so ``squid --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from squid_core.version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="squid",
        description="SQUID anomaly detection for chest radiographs: train, evaluate, score.",
    )
    parser.add_argument("--version", action="version", version=f"squid {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if not _is_user_facing(exc):
            raise
        # A full or read-only disk, a damaged model file, an unreadable image: the
        # message says what and why; a traceback would only hide it.
        print(f"squid {args.command}: error: {exc}", file=sys.stderr)
        return 1


def _is_user_facing(exc: BaseException) -> bool:
    """Errors whose message is meant for the user (files, disks, model files, images)."""
    from squid_core.io.errors import ImageReadError
    from squid_core.model_file import ModelFileError

    return isinstance(exc, OSError | ModelFileError | ImageReadError)
