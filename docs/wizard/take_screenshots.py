"""Screenshots of the five training-wizard steps (and the model library), in a real window.

Run under Xvfb so the windows are real X11 windows::

    xvfb-run -a -s "-screen 0 1400x900x24" python docs/wizard/take_screenshots.py

It trains a small compact model for real (4 epochs on 120 ZhangLab normals, a few
minutes on a 2-core CPU), in a temporary data folder, and writes
``docs/wizard/step1_data.png`` ... ``step5_save.png`` and ``library.png``.
``--last-step 2`` stops after the settings page (no training; a measured estimate only).
Data: ZhangLab pediatric chest X-rays (Kermany et al. 2018, CC BY 4.0) from
``../shared/data/zhanglab_224/train``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
OUT = Path(__file__).resolve().parent
ZHANGLAB = ROOT.parent / "shared" / "data" / "zhanglab_224" / "train"


def wait_until(app, pred: Callable[[], bool], timeout: float, what: str) -> None:
    """Process Qt events until ``pred()`` holds; fail loudly after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise TimeoutError(f"timed out waiting for {what}")
        app.processEvents()
        time.sleep(0.03)


def settle(app, seconds: float = 0.6) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def shoot(app, widget, name: str) -> None:
    """Grab the window as it is on the X screen (falls back to rendering the widget)."""
    settle(app)
    screen = widget.screen()
    geo = widget.frameGeometry()
    pix = screen.grabWindow(0, geo.x(), geo.y(), geo.width(), geo.height())
    if pix.isNull():
        pix = widget.grab()
    pix.save(str(OUT / name))
    print("wrote", OUT / name, flush=True)


def copy_images(kind: str, dest: Path, start: int, n: int) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for f in sorted((ZHANGLAB / kind).iterdir())[start:start + n]:
        shutil.copy(f, dest / f.name)
    return dest


def main() -> int:
    import argparse

    from PySide6.QtWidgets import QApplication, QWizard

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--last-step", type=int, choices=range(1, 6), default=5,
                    help="stop after this wizard step's screenshot (default 5: all, and the "
                         "library)")
    last_step = ap.parse_args().last_step

    import squid_core
    from squid_core.library import ModelLibrary
    from viewer.library import ModelLibraryDialog
    from viewer.theme import apply_dark_theme
    from viewer.wizard import TrainingWizard

    os.environ.setdefault("OMP_NUM_THREADS", "1")  # see tests/test_wizard_e2e.py
    tmp = Path(tempfile.mkdtemp(prefix="squid-shots-"))
    atexit.register(shutil.rmtree, tmp, True)  # also after an early --last-step return
    os.environ["SQUID_VIEWER_DATA_DIR"] = str(tmp / "data")
    normal = copy_images("NORMAL", tmp / "site" / "normals", 0, 120)
    (normal / "scanner_log.txt").write_text("not an image")
    (normal / "IM-9999-corrupt.jpeg").write_bytes(b"\xff\xd8\xff broken jpeg")
    val = tmp / "site" / "validation"
    copy_images("NORMAL", val / "normal", 200, 10)
    copy_images("PNEUMONIA", val / "abnormal", 0, 10)
    bundled = tmp / "bundled" / "default.safetensors"
    bundled.parent.mkdir()
    base = squid_core.build_model("compact")
    base.metadata.update(name="Bundled default (compact)", version="1.0")
    base.save(bundled)
    library = ModelLibrary(bundled_path=bundled)

    app = QApplication.instance() or QApplication(sys.argv)
    apply_dark_theme(app)
    wizard = TrainingWizard(library)
    wizard.move(20, 20)
    wizard.resize(1180, 820)
    wizard.show()

    dp = wizard.data_page
    dp.add_normal_folder(normal)
    dp.set_validation_folder(val)
    wait_until(app, dp.isComplete, 60, "the data scan")
    shoot(app, wizard, "step1_data.png")
    if last_step == 1:
        return 0

    wizard.next()
    sp = wizard.settings_page
    sp.scratch_radio.setChecked(True)
    sp.preset_combo.setCurrentIndex(sp.preset_combo.findData("compact"))
    sp.epochs_spin.setValue(4)
    sp.batch_spin.setValue(8)
    sp.device_combo.setCurrentText("cpu")
    sp.measure_btn.click()
    wait_until(app, lambda: sp.estimate is not None, 180, "the time estimate")
    shoot(app, wizard, "step2_settings.png")
    if last_step == 2:
        wizard.close()
        return 0

    wizard.next()
    tp = wizard.train_page
    wait_until(app, lambda: tp.sample_count() > 0 and any(
        e["event"] == "progress" and e["epoch"] == 2 and e["step"] >= 6 for e in tp.events),
        900, "the third epoch")
    shoot(app, wizard, "step3_training.png")
    wait_until(app, tp.isComplete, 600, "the end of training")
    if last_step == 3:
        return 0

    wizard.next()
    wizard.validate_page.set_target("specificity", 0.80)
    shoot(app, wizard, "step4_validation.png")
    if last_step == 4:
        return 0

    wizard.next()
    wizard.save_page.name_edit.setText("Children's hospital, ward B")
    wizard.save_page.notes_edit.setPlainText(
        "120 normal PA chest radiographs (ZhangLab sample), compact preset, 4 epochs. "
        "Operating point: specificity 0.80 on 10 + 10 labelled validation images.")
    shoot(app, wizard, "step5_save.png")
    wizard.button(QWizard.WizardButton.FinishButton).click()
    settle(app)

    dialog = ModelLibraryDialog(library)
    dialog.move(20, 20)
    dialog.show()
    shoot(app, dialog, "library.png")
    dialog.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
