"""The training wizard end to end, with real training in a real worker process.

* the whole wizard on a tiny data set (24 normal training images, a labelled
  validation folder of 4 normal + 4 pneumonia) to a saved, activated model that
  then scores an image;
* cancel in the middle of an epoch: the active model is untouched, the run
  resumes from its last epoch checkpoint and completes;
* killing the training process: the wizard shows an error and stays usable.

Data: ZhangLab pediatric chest X-rays (Kermany et al. 2018, CC BY 4.0) from
``../shared/data/zhanglab_224/train`` when present, else variants of the two
ZhangLab images committed in ``tests/data/images``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QWizard

from squid_core.library import BUNDLED_ID, ModelLibrary
from squid_core.safetensors_header import read_squid_metadata
from squid_core.training.recipes import DEFAULT_RECIPE, RECIPES

pytestmark = pytest.mark.slow

ZHANGLAB = Path(__file__).resolve().parents[2] / "shared" / "data" / "zhanglab_224" / "train"
COMMITTED = Path(__file__).parent / "data" / "images"


def make_folder(out_dir: Path, kind: str, n: int, offset: int = 0) -> Path:
    """``n`` chest images of ``kind`` ("NORMAL" or "PNEUMONIA") copied into ``out_dir``."""
    import cv2

    out_dir.mkdir(parents=True, exist_ok=True)
    source = ZHANGLAB / kind
    if source.is_dir():
        for f in sorted(source.iterdir())[offset : offset + n]:
            shutil.copy(f, out_dir / f.name)
        return out_dir
    img = cv2.imread(str(next(COMMITTED.glob(f"zhanglab_{kind}_*"))), cv2.IMREAD_GRAYSCALE)
    img = cv2.resize(img, (160, 160), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(offset)
    for i in range(n):  # small shifts, zoom and brightness changes of the one image
        m = cv2.getRotationMatrix2D((80, 80), 0.0, rng.uniform(0.95, 1.05))
        m[:, 2] += rng.uniform(-6, 6, 2)
        v = cv2.warpAffine(img, m, (160, 160), borderMode=cv2.BORDER_REFLECT)
        v = np.clip(v * rng.uniform(0.9, 1.1), 0, 255).astype(np.uint8)
        cv2.imwrite(str(out_dir / f"{kind}_{offset + i:03d}.png"), v)
    return out_dir


@pytest.fixture(autouse=True)
def one_thread_per_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Worker processes inherit OMP_NUM_THREADS=1. On this shared 2-core machine, OpenMP
    threads spin-waiting for a busy core made training steps 5-50x slower."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.fixture()
def library(tmp_path: Path) -> ModelLibrary:
    """A library whose bundled (and active) model is a tiny SQUID (64 px, 8 base channels).

    Fine-tuning it trains in a fraction of a second per step, which keeps the cancel
    and kill tests short; the end-to-end test trains the real compact preset.
    """
    import squid_core
    from squid_core.model.config import SquidConfig

    config = SquidConfig(image_size=64, num_patch=2, level=3, features_root=8,
                         memory_channel=256, num_slots=20, mem_num_slots=20,
                         ops=("concat", "concat", "none"), decoder_memory=(None, None, None),
                         discriminator_size=4, discriminator_channels=(8, 16, 16, 16))
    bundled = tmp_path / "bundled" / "default.safetensors"
    bundled.parent.mkdir()
    model = squid_core.build_model(config)
    model.metadata["name"] = "Bundled tiny"
    model.save(bundled)
    return ModelLibrary(tmp_path / "data", bundled_path=bundled)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _open_wizard(qtbot, library: ModelLibrary, normal: Path, val: Path | None, window=None):
    """The wizard on ``library``, opened from ``window``'s Model menu when one is given."""
    from viewer.wizard import TrainingWizard

    if window is None:
        wizard = TrainingWizard(library)
        qtbot.addWidget(wizard)
        wizard.show()
    else:
        window.model_actions.library_factory = lambda: library
        window.actions_by_id["train"].trigger()
        wizard = window.model_actions.wizard
        assert isinstance(wizard, TrainingWizard) and wizard.isVisible()
    page = wizard.data_page
    page.add_normal_folder(normal)
    if val is not None:
        page.set_validation_folder(val)
    qtbot.waitUntil(page.isComplete, timeout=30_000)
    return wizard


def _settings(wizard, *, scratch: bool, epochs: int, batch: int, steps: int = 0,
              recipe: str | None = None) -> None:
    sp = wizard.settings_page
    (sp.scratch_radio if scratch else sp.finetune_radio).setChecked(True)
    sp.preset_combo.setCurrentIndex(sp.preset_combo.findData("compact"))
    if recipe is not None:
        sp.recipe_combo.setCurrentIndex(sp.recipe_combo.findData(recipe))
    sp.epochs_spin.setValue(epochs)
    sp.batch_spin.setValue(batch)
    sp.steps_spin.setValue(steps)
    sp.device_combo.setCurrentText("cpu")
    sp.threads_spin.setValue(1)


def _events(page, kind: str) -> list[dict]:
    return [e for e in page.events if e["event"] == kind]


def test_wizard_end_to_end_trains_saves_activates_and_scores(qtbot, tmp_path, library):
    normal = make_folder(tmp_path / "site" / "normal", "NORMAL", 24)
    val = tmp_path / "site" / "validation"
    make_folder(val / "normal", "NORMAL", 4, offset=100)
    make_folder(val / "abnormal", "PNEUMONIA", 4)
    (normal / "notes.txt").write_text("not an image")  # listed as rejected, never fatal
    (normal / "broken.png").write_bytes(b"\x89PNG broken")

    from viewer._testsupport import make_window, open_and_wait

    window = make_window(qtbot, tmp_path)  # the wizard opens from its Model menu
    wizard = _open_wizard(qtbot, library, normal, val, window)
    data = wizard.state.data
    assert (len(data.normal_files), len(data.val_normal_files), len(data.val_abnormal_files)) \
        == (24, 4, 4)
    assert any(p.name == "broken.png" for p, _ in data.rejected)
    assert wizard.data_page.rejected_table.rowCount() == len(data.rejected)
    assert wizard.data_page.thumbnail_count() == 8
    assert "Only 24 normal images" in wizard.data_page.warning_label.text()

    # 2. settings: from scratch, compact preset, 1 epoch; measure first
    wizard.next()
    assert wizard.currentPage() is wizard.settings_page
    assert wizard.settings_page.recipe_combo.currentData() == DEFAULT_RECIPE
    _settings(wizard, scratch=True, epochs=1, batch=4)
    wizard.settings_page.measure_btn.click()
    qtbot.waitUntil(lambda: wizard.settings_page.estimate is not None, timeout=60_000)
    est = wizard.settings_page.estimate
    assert est["steps_per_epoch"] == 6 and est["seconds_per_epoch"] > 0
    assert "per epoch" in wizard.settings_page.estimate_label.text()

    # 3. training, live: losses, progress, sample reconstructions
    wizard.next()
    tp = wizard.train_page
    assert tp.is_running()
    qtbot.waitUntil(tp.isComplete, timeout=90_000)
    assert tp.finished_status == "completed"
    assert _events(tp, "progress") and tp._curves, "loss curves are drawn"
    assert tp.sample_count() == 8, "4 inputs over 4 reconstructions"
    assert tp.progress.value() == tp.progress.maximum()
    assert wizard.state.model_path is not None and wizard.state.model_path.is_file()
    assert library.active_id() == BUNDLED_ID, "nothing changes before Save"
    # trained with the default (robust) recipe: standardised, averaged weights
    written = read_squid_metadata(wizard.state.model_path)
    recipe = RECIPES[DEFAULT_RECIPE]
    config = written["training"]["config"]
    assert (config["recipe"], config["standardise"], config["ema_decay"]) == (
        DEFAULT_RECIPE, recipe.standardise, recipe.ema_decay)
    assert written.get("intensity_standardisation") is not None

    # 4. validation: ROC/AUC on the labelled folder, operating point by target specificity
    wizard.next()
    vp = wizard.validate_page
    v = wizard.state.validation
    assert len(v["scores"]) == 8 and sorted(v["labels"]) == [0] * 4 + [1] * 4
    assert 0.0 <= v["auc"] <= 1.0 and "AUC" in vp.auc_label.text()
    assert v["sigma"] > 0
    vp.set_target("specificity", 0.75)
    op = wizard.state.operating_point
    assert op["name"] == "specificity 0.75" and op["specificity"] >= 0.75
    assert "95 % bootstrap interval" in op["rule"]  # chosen with the margin
    assert "specificity" in vp.point_label.text() and "(95 % interval" in vp.point_label.text()
    assert vp.margin_label.isVisible() and "re-calibrate on about 200 new normal" in vp.margin_label.text()

    # 5. save under a name with notes, activate
    wizard.next()
    sp = wizard.save_page
    sp.name_edit.setText("Ward test model")
    sp.notes_edit.setPlainText("e2e test")
    with qtbot.waitSignal(window.modelLoaded, timeout=60_000), \
            qtbot.waitSignal(wizard.activeModelChanged, timeout=30_000) as sig:
        wizard.button(QWizard.WizardButton.FinishButton).click()
    active = library.active_model()
    assert active is not None and active.name == "Ward test model"
    assert sig.args == [str(active.path)]
    assert active.notes == "e2e test"
    assert re.fullmatch(r"\d{4}\.\d{2}\.\d{2}-\d{4}", active.version)
    assert active.metadata["default_operating_point"] == "specificity 0.75"
    assert not wizard.state.run_dir.exists(), "run folder cleaned after saving"

    # the viewer has loaded the activated model and scores with the chosen point
    assert window.session.model.name == "Ward test model"
    assert window.session.model.path == str(active.path)
    image = next((val / "abnormal").iterdir())
    with qtbot.waitSignal(window.resultShown, timeout=60_000):
        assert open_and_wait(qtbot, window, image) == "shown"  # analysed on opening
    result = window.panes.result
    assert 0.0 <= result.score <= 100.0
    assert result.model_name == "Ward test model"
    assert result.operating_point.name == "specificity 0.75"
    assert result.flagged == (result.score >= op["threshold"])


def test_cancel_mid_epoch_keeps_active_model_and_resumes(qtbot, tmp_path, library):
    normal = make_folder(tmp_path / "normal", "NORMAL", 66)  # 59 train + 7 held out
    active_before = library.active_model()
    digest_before = _digest(active_before.path)

    wizard = _open_wizard(qtbot, library, normal, None)
    wizard.next()
    _settings(wizard, scratch=False, epochs=2, batch=2,  # fine-tune the active model
              recipe="paper")
    assert "Xiang" in wizard.settings_page.recipe_note.text(), "the note follows the choice"
    wizard.next()
    tp = wizard.train_page

    def in_second_epoch() -> bool:
        return any(e["epoch"] == 1 for e in _events(tp, "progress"))

    qtbot.waitUntil(in_second_epoch, timeout=90_000)
    tp.cancel_btn.click()
    qtbot.waitUntil(lambda: tp.finished_status == "cancelled" and not tp.is_running(),
                    timeout=30_000)
    last_progress = _events(tp, "progress")[-1]
    assert last_progress["epoch"] == 1 and last_progress["step"] < last_progress["steps"]
    assert not _events(tp, "epoch_end")[1:], "the cancelled epoch was not completed"
    assert tp.checkpoint and Path(tp.checkpoint).is_file()
    assert wizard.state.model_path is None and not tp.isComplete()
    assert library.active_id() == active_before.id
    assert _digest(active_before.path) == digest_before
    assert "unchanged" in tp.status_label.text()
    assert tp.resume_btn.isVisibleTo(wizard)

    tp.resume_btn.click()
    qtbot.waitUntil(tp.isComplete, timeout=90_000)
    starts = _events(tp, "start")
    assert starts[-1]["start_epoch"] == 1, "resumed after the last completed epoch"
    assert [s["threads"] for s in starts] == [1, 1], "the threads chosen on the settings page"
    assert [s["recipe"] for s in starts] == ["paper", "paper"], "the recipe chosen, resumed"
    assert tp.finished_status == "completed"
    v = wizard.state.validation
    assert v["source"] == "held-out normals + synthetic anomalies"
    assert sorted(v["labels"]) == [0] * 7 + [1] * 7
    assert library.active_id() == active_before.id, "still untouched until saved"


def test_killing_the_training_process_shows_an_error(qtbot, tmp_path, library):
    from viewer._testsupport import make_window, open_and_wait

    window = make_window(qtbot, tmp_path)
    normal = make_folder(tmp_path / "normal", "NORMAL", 10)
    wizard = _open_wizard(qtbot, library, normal, None)
    wizard.next()
    _settings(wizard, scratch=False, epochs=50, batch=2)
    wizard.next()
    tp = wizard.train_page
    qtbot.waitUntil(lambda: bool(_events(tp, "progress")), timeout=60_000)
    os.kill(tp.process.pid(), signal.SIGKILL)  # from outside, like the OOM killer
    qtbot.waitUntil(lambda: bool(tp.error_message), timeout=15_000)
    assert "killed or crashed" in tp.error_message
    assert tp.error_label.isVisibleTo(wizard)
    assert not tp.isComplete() and not tp.is_running()
    assert tp.restart_btn.isVisibleTo(wizard)
    # the GUI is alive: the wizard still navigates, the viewer still opens images
    wizard.back()
    assert wizard.currentPage() is wizard.settings_page
    assert open_and_wait(qtbot, window, next(normal.iterdir())) == "shown"
    assert library.active_id() == BUNDLED_ID
