"""Shared test set-up: Qt offscreen, paths to the committed test data, real small disks.

The filesystem fixtures inject storage faults for real: a tmpfs of a few hundred KiB
that a test fills up (ENOSPC), and a tmpfs remounted read-only (EROFS). They need
root and mount rights (as in the CI container); elsewhere the tests using them skip,
and CI's skip rule (tests/skip_policy.py, registered here) fails a CI run on such a skip.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from skip_policy import pytest_configure  # noqa: F401  (CI's skip rule, see the module)

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parent.parent
BUNDLED_MODEL = ROOT / "resources" / "models" / "default.safetensors"
DEMO = ROOT / "resources" / "demo"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def bundled_model():
    """The shipped model (resources/models/default.safetensors), loaded once per session.

    Tests must not change it (its metadata is shared); copy what they modify.
    """
    import squid_core

    return squid_core.load_model(BUNDLED_MODEL)


@pytest.fixture(scope="session")
def demo_results(bundled_model) -> dict:
    """``{file name: AnalysisResult}`` of every demo image scored by the bundled model
    through the viewer's scorer (default settings, CPU), once per session."""
    from squid_core.io import read_image
    from squid_core.scoring.analysis import scoring_frame
    from squid_core.scoring.scorer import Scorer

    scorer = Scorer(bundled_model, device="cpu")
    return {path.name: scorer.score(scoring_frame(read_image(path))[0])
            for path in sorted(DEMO.iterdir()) if path.suffix in (".dcm", ".png")}


@pytest.fixture
def app_main_in_process(qapp):
    """For tests that run ``viewer.app.main`` in-process on the shared application.

    Closing main()'s window must not post a quit to the application (quit on last
    window closed): the quit would end the next test's event loop at once. The test
    ends main() with ``QApplication.exit``. main() also applies the dark theme; style,
    palette and style sheet are put back afterwards.
    """
    style, palette, sheet = qapp.style().name(), qapp.palette(), qapp.styleSheet()
    quit_on_close = qapp.quitOnLastWindowClosed()
    qapp.setQuitOnLastWindowClosed(False)
    yield
    qapp.setQuitOnLastWindowClosed(quit_on_close)
    qapp.setStyleSheet(sheet)
    qapp.setPalette(palette)
    qapp.setStyle(style)


def _run(*args: str) -> bool:
    return subprocess.run(list(args), capture_output=True).returncode == 0


@pytest.fixture
def mount_tmpfs(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """``mount_tmpfs(name="disk", size="256k")``: a real tmpfs of ``size`` at tmp_path/name.

    Skips the test where mounting is not allowed; unmounts everything at teardown.
    """
    mounted: list[Path] = []

    def mount(name: str = "disk", size: str = "256k") -> Path:
        point = tmp_path / name
        point.mkdir()
        if not _run("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)):
            pytest.skip("cannot mount a small tmpfs here (needs root and mount rights)")
        mounted.append(point)
        return point

    yield mount
    for point in reversed(mounted):
        if not _run("umount", str(point)):
            _run("umount", "-l", str(point))  # still busy: detach it anyway


@pytest.fixture
def tiny_filesystem(mount_tmpfs: Callable[..., Path]) -> Path:
    """A real 256 KiB tmpfs (needs root and mount rights; skipped elsewhere)."""
    return mount_tmpfs("tiny", "256k")


def _fill(folder: Path) -> Path:
    filler = folder / "filler.bin"
    chunk = b"\0" * 65536
    with open(filler, "wb", buffering=0) as fh:
        while True:
            try:
                fh.write(chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
    probe = folder / "probe.bin"
    try:  # proof that not one more page fits
        with open(probe, "wb") as fh:
            fh.write(b"x" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    else:
        raise AssertionError(f"{folder} still has room after filling it")
    finally:
        probe.unlink(missing_ok=True)
    return filler


@pytest.fixture
def fill_filesystem() -> Callable[[Path], Path]:
    """``fill_filesystem(folder)``: write a filler file until the disk is full (ENOSPC)."""
    return _fill


@pytest.fixture
def remount_read_only() -> Callable[[Path], None]:
    """``remount_read_only(mount_point)``: make a mounted tmpfs read-only (EROFS)."""

    def remount(point: Path) -> None:
        if not _run("mount", "-o", "remount,ro", str(point)):
            pytest.skip(f"cannot remount {point} read-only here")

    return remount


def _orthanc_or_skip() -> Any:
    import orthanc_server

    if orthanc_server.orthanc_binary() is None or orthanc_server.dicomweb_plugin() is None:
        if os.environ.get("SQUID_REQUIRE_ORTHANC"):
            pytest.fail("orthanc / orthanc-dicomweb missing on CI (.ci/run installs them)")
        pytest.skip("needs the orthanc and orthanc-dicomweb packages (apt-get install "
                    "orthanc orthanc-dicomweb)")
    return orthanc_server


@pytest.fixture
def orthanc(tmp_path: Path) -> Iterator[Any]:
    """A real Orthanc on loopback (see tests/orthanc_server.py) that knows the project's AE
    titles SQUIDTEST (its Storage SCP at ``orthanc.modalities["SQUIDTEST"]``) and SQUIDSCU.

    Skips with a reason naming orthanc when the binary is missing locally; on CI
    (``CI`` set) a missing Orthanc is an error, since ``.ci/run`` installs it.
    """
    orthanc_server = _orthanc_or_skip()
    modalities = {"SQUIDTEST": ("127.0.0.1", orthanc_server.free_port()),
                  "SQUIDSCU": ("127.0.0.1", orthanc_server.free_port())}
    server = orthanc_server.start_orthanc(tmp_path / "orthanc", modalities)
    yield server
    server.stop()


@pytest.fixture
def pki(tmp_path: Path) -> Any:
    """Throwaway certificates (tests/tls_certs.py): a CA, Orthanc's, ours, another CA."""
    from tls_certs import make_pki

    return make_pki(tmp_path / "pki")


@pytest.fixture
def orthanc_tls(tmp_path: Path, pki: Any) -> Iterator[Any]:
    """Like ``orthanc``, but its DICOM port speaks only DICOM TLS (its certificate signed
    by ``pki.ca``, callers' certificates required and checked against ``pki.ca``), and it
    calls SQUIDTEST (C-MOVE) with TLS too."""
    orthanc_server = _orthanc_or_skip()
    modalities = {"SQUIDTEST": ("127.0.0.1", orthanc_server.free_port()),
                  "SQUIDSCU": ("127.0.0.1", orthanc_server.free_port())}
    tls = orthanc_server.OrthancTls(pki.server_cert, pki.server_key, pki.ca, ("SQUIDTEST",))
    server = orthanc_server.start_orthanc(tmp_path / "orthanc", modalities, tls=tls)
    yield server
    server.stop()
