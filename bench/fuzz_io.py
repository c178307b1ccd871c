"""Fuzz the image reader and the study scan with mutated real files, at any scale.

Usage::

    python bench/fuzz_io.py CASES [--seed N] [--timeout S] [--memory-limit-mb MB]

Each case takes a real DICOM, PNG or JPEG file from ``tests/data``, applies one
to four random mutations (overwrite, bit flip, insert, delete, truncate, or an
extreme 16/32-bit integer, biased towards the header), and runs
``read_image`` and then ``scan`` on it in a worker process. A case fails when
anything other than :class:`ImageReadError` escapes ``read_image``, when
``scan`` raises at all, when a returned image is invalid, or when the case
runs past the timeout (the worker is then killed and restarted). The worker's
address space is capped (``--memory-limit-mb``) so that a memory bomb fails
its case rather than the machine.

Prints: cases run, failures (with the seed of each, to replay them), the
slowest case, and the worker's peak resident memory.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import resource
import struct
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SOURCES = [
    "dicom/MR_small_RLE.dcm",
    "dicom/MR_small_jp2klossless.dcm",
    "dicom/emri_small_jpeg_ls_lossless.dcm",
    "dicom/dicomdir_CR1_6154.dcm",
    "dicom/JPEGBaseline_1s_1f_u_08_08.dcm",
    "dicom/SC_rgb_rle_2frame.dcm",
    "dicom/OBXXXX1A_rle_2frame.dcm",
    "dicom/dx_image.dcm",
    "dicom/rtplan.dcm",
    "dicom/test-SR.dcm",
    "dicom/mlut_18.dcm",
    "dicom/vlut_04.dcm",
    "dicom/SIIM_CR_chest.dcm",
    "dicom/RG3_J2KI.dcm",
    "images/zhanglab_NORMAL_IM-0115-0001.jpeg",
    "images/NIH_00027426_palette.png",
    "images/NIH_00027426_000.png",
    "images/RG1_chest_16bit.png",
    "images/TBX11K_h0001.png",
]
EXTREMES = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF]


def mutate(data: bytes, rng: random.Random) -> bytes:
    """Apply one to four random mutations to ``data``."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not buf:
            buf = bytearray(rng.randbytes(rng.randint(1, 64)))
            continue
        span = min(len(buf), 2048) if rng.random() < 0.6 else len(buf)
        pos = rng.randrange(span)
        op = rng.choice(["overwrite", "flip", "insert", "delete", "truncate", "int16", "int32"])
        if op == "overwrite":
            blob = rng.randbytes(rng.randint(1, 16))
            buf[pos : pos + len(blob)] = blob
        elif op == "flip":
            buf[pos] ^= 1 << rng.randrange(8)
        elif op == "insert":
            buf[pos:pos] = rng.randbytes(rng.randint(1, 16)) * rng.randint(1, 64)
        elif op == "delete":
            del buf[pos : pos + rng.randint(1, 1024)]
        elif op == "truncate":
            del buf[pos:]
        elif op == "int16":
            buf[pos : pos + 2] = struct.pack("<H", rng.choice(EXTREMES) & 0xFFFF)
        else:
            buf[pos : pos + 4] = struct.pack("<I", rng.choice(EXTREMES))
    return bytes(buf)


def _worker(conn, memory_limit_mb: int) -> None:
    """Run cases sent over ``conn``: (seed, source) -> (status, detail, seconds, peak RSS in kB)."""
    sys.path.insert(0, str(ROOT))
    limit = memory_limit_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    import numpy as np

    from squid_core.io import ImageReadError, read_image, scan

    sources = {name: (DATA / name).read_bytes() for name in SOURCES}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        while True:
            job = conn.recv()
            if job is None:
                return
            seed, name = job
            data = mutate(sources[name], random.Random(seed))
            path = folder / ("case" + Path(name).suffix)
            path.write_bytes(data)
            start = time.perf_counter()
            status, detail = "ok", ""
            try:
                try:
                    img = read_image(path)
                except ImageReadError:
                    status = "error"
                else:
                    px = img.pixels
                    if not (
                        px.dtype == np.float32
                        and px.shape == img.values.shape
                        and np.isfinite(px).all()
                        and px.min() >= 0
                        and px.max() <= 1
                    ):
                        status, detail = "fail", "invalid image returned"
                    del img, px
                result = scan(folder)
                if len(result.instances) + len(result.rejected) != 1:
                    status, detail = "fail", "scan lost the file"
            except BaseException:  # anything else is a failure of the reader
                status, detail = "fail", traceback.format_exc(limit=3)
            seconds = time.perf_counter() - start
            path.unlink()
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            conn.send((status, detail, seconds, peak))


def _start(memory_limit_mb: int):
    parent, child = mp.Pipe()
    proc = mp.get_context("fork").Process(
        target=_worker, args=(child, memory_limit_mb), daemon=True
    )
    proc.start()
    return proc, parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cases", type=int)
    parser.add_argument(
        "--seed", type=int, default=0, help="first case seed (case i uses seed + i)"
    )
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds allowed per case")
    parser.add_argument(
        "--memory-limit-mb", type=int, default=3072, help="worker address-space cap"
    )
    args = parser.parse_args(argv)

    proc, conn = _start(args.memory_limit_mb)
    counts = {"ok": 0, "error": 0, "fail": 0, "timeout": 0}
    failures: list[tuple[int, str, str]] = []
    slowest = (0.0, -1, "")
    peak_kb = 0
    t0 = time.perf_counter()
    for i in range(args.cases):
        seed = args.seed + i
        name = SOURCES[seed % len(SOURCES)]
        conn.send((seed, name))
        if conn.poll(args.timeout + 10.0):  # generous slack for the scan and process hiccups
            status, detail, seconds, peak = conn.recv()
            peak_kb = max(peak_kb, peak)
            if seconds > args.timeout:
                status, detail = "timeout", f"{seconds:.1f} s"
            if seconds > slowest[0]:
                slowest = (seconds, seed, name)
        else:
            status, detail = "timeout", f"no answer in {args.timeout + 10:.0f} s"
            proc.kill()
            proc.join()
            proc, conn = _start(args.memory_limit_mb)
        counts[status] += 1
        if status in ("fail", "timeout"):
            failures.append((seed, name, detail))
        if (i + 1) % 1000 == 0:
            print(f"  {i + 1} cases, {time.perf_counter() - t0:.0f} s", flush=True)
    conn.send(None)
    proc.join(timeout=5)
    elapsed = time.perf_counter() - t0

    print(f"cases: {args.cases} in {elapsed:.1f} s ({args.cases / elapsed:.0f}/s)")
    print(
        f"read ok: {counts['ok']}, ImageReadError: {counts['error']}, "
        f"failures: {counts['fail']}, timeouts: {counts['timeout']}"
    )
    print(f"slowest case: {slowest[0]:.3f} s (seed {slowest[1]}, {slowest[2]})")
    print(f"worker peak RSS: {peak_kb / 1024:.0f} MB")
    for seed, name, detail in failures[:20]:
        print(f"FAIL seed {seed} ({name}): {detail.strip().splitlines()[-1] if detail else ''}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
