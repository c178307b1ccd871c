"""The worker process: it loads the model once, then reads, scores and exports images.

Everything that touches untrusted data or heavy compute runs here, not in the client's
process: decoding (``read_image`` with its size guards), scoring, rendering the Secondary
Capture. A decoder that crashes takes only this process down; the service reports the
image as an error and starts a new worker. The protocol over the pipe is small tuples
between our own processes: ``("ready", info)`` or ``("fatal", reason)`` once, then one
``("outcome", JobOutcome)`` per ``Job`` received, and (with ``ModelSpec.compile``) one
``("compiled", (compiled, why_not))`` whenever the background compilation ends; the
worker exits when the pipe closes (also when its parent is killed).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from squid_core.service.jobs import Job, JobOutcome, SourceInfo

#: Names of the export files a job with ``export_dir`` produces.
SC_NAME = "sc.dcm"
SR_NAME = "sr.dcm"


@dataclass(frozen=True)
class ModelSpec:
    """How a worker builds its scorer: a model file, a device, torch's thread count, and
    whether to compile it (in the background: it scores uncompiled meanwhile)."""

    path: str
    device: str = "cpu"
    threads: int = 1
    compile: bool = False


def _source_info(image: Any) -> SourceInfo:
    meta = image.meta
    return SourceInfo(sop_instance_uid=str(meta.sop_instance_uid or ""),
                      study_instance_uid=str(meta.study_uid or ""),
                      series_instance_uid=str(meta.series_uid or ""),
                      sop_class_uid=str(meta.sop_class_uid or ""))


def write_exports(pixels: np.ndarray, result: Any, header: Any, folder: Path) -> tuple[str, ...]:
    """Write the Secondary Capture of the overlay and the SR of the score into ``folder``.

    Both files are renamed into place together (all or none). Without a DICOM header the
    SR references the SC, which then starts a new study.
    """
    from squid_core.exports.dicom_export import save_datasets, score_report, secondary_capture
    from squid_core.exports.overlay import overlay_rgb
    from squid_core.scoring.summary import ResultSummary

    rgb = overlay_rgb(pixels, result.heatmap, result.heatmap_scale_max)
    sc = secondary_capture(rgb, header)
    evidence = header if header is not None and "SOPInstanceUID" in header else sc
    sr = score_report(ResultSummary.from_result(result), evidence)
    files = {folder / SC_NAME: sc, folder / SR_NAME: sr}
    save_datasets(files, "DICOM result")
    return tuple(str(p) for p in files)


def analyse(job: Job, scorer: Any) -> JobOutcome:
    """Read, score and (with ``job.export_dir``) export one image; never raises."""
    from squid_core.io import ImageReadError, read_image
    from squid_core.scoring.analysis import analyse_image, scoring_frame

    t0 = time.perf_counter()
    source = SourceInfo()
    try:
        image = read_image(job.path)
        source = _source_info(image)
        # The one path every surface uses: the frame (scoring_frame), applicability from
        # the tags, then the scorer with the model's out-of-distribution guard (status
        # scored | not-applicable | outside).
        pixels, _ = scoring_frame(image, job.frame)
        result = analyse_image(scorer, image, job.frame, force=job.force)
        status, reason = result.status, result.status_reason
        exports: tuple[str, ...] = ()
        if job.export_dir and result.score is not None:  # scored or outside: the SR says which
            exports = write_exports(pixels, result, image.header, Path(job.export_dir))
        if not job.keep_arrays and result.score is not None:
            empty = np.zeros((0, 0), np.float32)
            result = replace(result, reconstruction=empty, heatmap=empty)
        return JobOutcome(job.key, status, reason, result, source, exports,
                          time.perf_counter() - t0)
    except ImageReadError as exc:
        reason = f"unreadable: {exc.reason}"
    except OSError as exc:
        reason = f"cannot write the results: {exc.strerror or exc}"
    except (ValueError, RuntimeError, MemoryError, IndexError) as exc:
        reason = f"cannot analyse the image ({type(exc).__name__}: {str(exc)[:200]})"
    return JobOutcome(job.key, "error", reason, None, source, (), time.perf_counter() - t0)


def load_scorer(spec: ModelSpec) -> Any:
    """A Scorer for ``spec`` (torch limited to ``spec.threads`` threads)."""
    import torch

    import squid_core
    from squid_core.scoring.scorer import Scorer

    torch.set_num_threads(max(1, int(spec.threads)))
    return Scorer(squid_core.load_model(spec.path), device=spec.device)


def worker_main(conn: Any, spec: ModelSpec, nice: int = 0) -> None:
    """Entry point of a worker process (``multiprocessing``, spawn context).

    Ctrl-C reaches the whole process group; the worker ignores it and ends when its
    client closes the pipe, so that the client decides how to stop.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if nice:
        try:
            os.nice(nice)
        except OSError:
            pass
    try:
        scorer = load_scorer(spec)
    except Exception as exc:  # the model file: reported once, the service refuses to start
        conn.send(("fatal", f"cannot load the model {spec.path}: {exc}"))
        return
    conn.send(("ready", {"model_name": scorer.model.name, "model_version": scorer.model.version,
                         "device": str(scorer.device), "pid": os.getpid()}))
    sending = threading.Lock()  # outcomes and the compile report share the pipe
    if spec.compile:
        def compile_in_background() -> None:
            compiled = bool(scorer.compile())
            with sending:
                try:
                    conn.send(("compiled", (compiled, None if compiled else scorer.compile_error)))
                except OSError:
                    pass

        threading.Thread(target=compile_in_background, daemon=True,
                         name="squid-analysis-compile").start()
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return  # the service closed the pipe, or its process is gone
        if job is None:
            return
        outcome = analyse(job, scorer)
        try:
            with sending:
                conn.send(("outcome", outcome))
        except OSError:
            return  # the service went away while this image was analysed
