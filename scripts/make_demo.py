"""Build the demo studies in ``resources/demo/`` from the public data in ``../shared``.

- ZhangLab pediatric chest X-rays (Kermany et al. 2018, CC BY 4.0), two normal and
  two pneumonia, taken from the REPORT part of the default model's patient-grouped
  split (children the model never saw, images that chose nothing), wrapped as DICOM
  Secondary Capture with made-up demo patients.
- A real chest CR from SIIM-ACR (via torchxrayvision's test data, Apache-2.0), as DICOM.
- Two NIH ChestX-ray14 PNGs (via torchxrayvision), one "No Finding", one cardiomegaly.

    python scripts/make_zhanglab_split.py ../shared/data/zhanglab_224/train runs/grouped \
        --from-csv resources/models/default_split.csv
    python scripts/make_demo.py runs/grouped ../shared/data resources/demo
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import highdicom as hd
import numpy as np
from PIL import Image
from pydicom.uid import generate_uid

ZHANGLAB = [
    ("report_normal", "DEMO^NORMAL ONE", "DEMO001"),
    ("report_normal", "DEMO^NORMAL TWO", "DEMO002"),
    ("report_abnormal", "DEMO^PNEUMONIA ONE", "DEMO003"),
    ("report_abnormal", "DEMO^PNEUMONIA TWO", "DEMO004"),
]


def wrap_as_secondary_capture(image_path: Path, out: Path, name: str, patient_id: str) -> None:
    """Write a greyscale image as a DICOM Secondary Capture (CR-like chest PA)."""
    pixels = np.asarray(Image.open(image_path).convert("L"), dtype=np.uint8)
    sc = hd.sc.SCImage(
        pixel_array=pixels,
        photometric_interpretation="MONOCHROME2",
        bits_allocated=8,
        coordinate_system="PATIENT",
        study_instance_uid=generate_uid(),
        series_instance_uid=generate_uid(),
        series_number=1,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="SQUID Viewer demo",
        patient_id=patient_id,
        patient_name=name,
        patient_birth_date="20150101",
        patient_sex="O",
        study_date="20260101",
        study_time="120000",
        patient_orientation=("L", "F"),
    )
    # The pixels are an 8-bit image that is already display-ready: a full-range window
    # (x / 255, exactly what reading the source JPEG gives) instead of the viewer's
    # robust percentile window, which would stretch them and shift the model's score.
    sc.WindowCenter = 128
    sc.WindowWidth = 256
    sc.Modality = "CR"
    sc.BodyPartExamined = "CHEST"
    sc.ViewPosition = "PA"
    sc.SeriesDescription = f"ZhangLab {image_path.name}"
    sc.save_as(out, enforce_file_format=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("split", type=Path,
                        help="folders of the bundled model's split: scripts/make_zhanglab_split.py "
                             "... --from-csv resources/models/default_split.csv")
    parser.add_argument("shared_data", type=Path, help="the shared data folder (../shared/data)")
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    taken: dict[str, int] = {}
    for part, name, patient_id in ZHANGLAB:
        index = taken.get(part, 0)
        taken[part] = index + 1
        source = sorted((args.split / part).iterdir())[index]
        label = "pneumonia" if part.endswith("abnormal") else "normal"
        wrap_as_secondary_capture(source, args.out / f"zhanglab_{label}_{index + 1}.dcm", name, patient_id)
    xrv = args.shared_data / "dicom" / "torchxrayvision"
    shutil.copy(xrv / "1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm", args.out / "siim_chest_cr.dcm")
    samples = args.shared_data / "cxr_samples"
    shutil.copy(samples / "00027426_000.png", args.out / "nih_no_finding.png")
    shutil.copy(samples / "00000001_000.png", args.out / "nih_cardiomegaly.png")
    for path in sorted(args.out.iterdir()):
        print(path.name, path.stat().st_size)


if __name__ == "__main__":
    main()
