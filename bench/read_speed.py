"""How fast images open and folders scan.

Usage::

    python bench/read_speed.py [--shared PATH] [--files 5000] [--repeats 5]

1. Reading ``RG1_J2KR.dcm`` (1955 x 1841, 15-bit CR, JPEG 2000 lossless) to a
   display array with ``read_image``, against the JPEG 2000 decode alone
   (``pydicom.pixels.pixel_array`` on an already parsed data set), which is the
   floor. Median of ``--repeats`` runs after one warm-up.
2. Scanning a folder of ``--files`` files (hard links to real DICOM and PNG /
   JPEG files, large uncompressed DICOMs included, in 50 sub-folders) with
   ``scan``: files per second, and the bytes actually read per file from
   ``/proc/self/io`` (``rchar``), which shows that pixel data is not read.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from squid_core.io import read_image, scan  # noqa: E402


def _rchar() -> int | None:
    """Bytes read by this process through read() calls so far (Linux), else None."""
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("rchar:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def bench_read(path: Path, repeats: int) -> None:
    """Time read_image against dcmread and the bare pixel decode."""
    import pydicom
    from pydicom.pixels import pixel_array

    read_image(path)  # warm-up: imports, plugin discovery, page cache
    wall: dict[str, list[float]] = {"total": [], "parse": [], "decode": []}
    cpu: dict[str, list[float]] = {"total": [], "parse": [], "decode": []}

    def timed(key: str, fn, *args):
        w, c = time.perf_counter(), time.process_time()
        out = fn(*args)
        wall[key].append(time.perf_counter() - w)
        cpu[key].append(time.process_time() - c)
        return out

    for _ in range(repeats):
        img = timed("total", read_image, path)
        ds = timed("parse", pydicom.dcmread, path)
        timed("decode", pixel_array, ds)
    w = {k: statistics.median(v) for k, v in wall.items()}
    c = {k: statistics.median(v) for k, v in cpu.items()}
    print(f"read_image({path.name}) -> display array {img.pixels.shape}, median of {repeats}:")
    print(f"  total: {w['total']:.3f} s wall, {c['total']:.3f} s CPU")
    print(
        f"  dcmread alone: {w['parse']:.3f} s wall; JPEG 2000 decode alone: {w['decode']:.3f} s wall, {c['decode']:.3f} s CPU"
    )
    print(
        f"  display pipeline and checks: {w['total'] - w['parse'] - w['decode']:.3f} s wall, "
        f"{c['total'] - c['parse'] - c['decode']:.3f} s CPU"
    )
    if os.getloadavg()[0] > (os.cpu_count() or 1):
        print(
            f"  (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs: wall times include waiting)"
        )


def build_folder(target: Path, sources: list[Path], n_files: int) -> int:
    """Fill ``target`` with ``n_files`` hard links (copies if linking fails) to ``sources``."""
    total_bytes = 0
    for i in range(n_files):
        src = sources[i % len(sources)]
        sub = target / f"series_{i % 50:02d}"
        sub.mkdir(exist_ok=True)
        dst = sub / f"{i:05d}_{src.name}"
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)
        total_bytes += src.stat().st_size
    return total_bytes


def bench_scan(sources: list[Path], n_files: int) -> None:
    """Time scan() over a folder of ``n_files`` files and report bytes read per file."""
    with tempfile.TemporaryDirectory(prefix="squid_scan_bench_") as tmp:
        folder = Path(tmp)
        on_disk = build_folder(folder, sources, n_files)
        before = _rchar()
        t = time.perf_counter()
        result = scan(folder)
        elapsed = time.perf_counter() - t
        after = _rchar()
    n = len(result.instances) + len(result.rejected)
    print(
        f"scan of {n} files ({on_disk / 1e9:.1f} GB of file data, hard links): {elapsed:.2f} s, "
        f"{n / elapsed:.0f} files/s; {len(result.instances)} images in "
        f"{sum(len(s.series) for p in result.patients for s in p.studies)} series, "
        f"{len(result.rejected)} rejected"
    )
    if before is not None and after is not None:
        per_file = (after - before) / max(n, 1)
        mean_size = on_disk / max(n_files, 1)
        print(
            f"  bytes read per file: {per_file / 1024:.1f} kB on average, against {mean_size / 1024:.0f} kB "
            f"average file size ({100 * per_file / mean_size:.2f} %): headers only"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    dicom = args.shared / "data" / "dicom"
    j2k = dicom / "pydicom_data_wheel" / "RG1_J2KR.dcm"
    if j2k.is_file():
        bench_read(j2k, args.repeats)
    else:
        print(f"{j2k} not found: read benchmark skipped")

    data = ROOT / "tests" / "data"
    sources = sorted((data / "dicom").glob("*.dcm")) + sorted((data / "images").glob("*"))
    for extra in (
        "pydicom_data_wheel/RG1_UNCR.dcm",
        "pylibjpeg_data/966_fixed.dcm",
        "derived/RG1_RLE_derived.dcm",
    ):
        if (dicom / extra).is_file():
            sources.append(dicom / extra)
    bench_scan(sources, args.files)
    return 0


if __name__ == "__main__":
    sys.exit(main())
