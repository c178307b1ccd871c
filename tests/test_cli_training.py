"""``squid train``, ``eval``, ``score`` and ``digitanatomy`` through ``squid_core.cli.main``."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from test_digit_anatomy import write_fake_mnist
from test_training_helpers import write_pngs

import squid_core
from squid_core.cli import main
from squid_core.training.recipes import DEFAULT_RECIPE, RECIPES

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A compact model trained for 2 steps on 12 tiny PNGs (seconds)."""
    root = tmp_path_factory.mktemp("cli")
    normal = write_pngs(root / "normal", 12, seed=0)
    abnormal = write_pngs(root / "abnormal", 4, seed=1, abnormal=True)
    (normal / "broken.png").write_bytes(b"not a png")
    out = root / "m.safetensors"
    rc = main(["train", "--preset", "compact", "--normal", str(normal), "--val-count", "4",
               "--val-abnormal", str(abnormal), "--epochs", "1", "--max-steps", "2",
               "--batch-size", "4", "--device", "cpu", "--quiet", "--out", str(out)])
    assert rc == 0
    return root, normal, abnormal, out


def test_train_writes_a_calibrated_model(trained):
    root, *_, out = trained
    model = squid_core.load_model(out)
    meta = model.metadata
    # 13 normal files (one broken), 4 held out: 8 or 9 readable training images
    assert meta["calibration"]["n_images"] == meta["training"]["data"]["n_train"] in (8, 9)
    assert {p["name"] for p in meta["operating_points"]} == {"balanced", "high sensitivity"}
    assert meta["training"]["data"]["n_rejected"] == 1
    assert meta["metrics"]["validation"]["n_abnormal"] == 4
    assert (root / "m.ckpt").is_dir()


def test_eval_reports_auc_and_stored_operating_point(trained, capsys):
    root, normal, abnormal, out = trained
    report_path = root / "eval.json"
    rc = main(["eval", "--model", str(out), "--normal", str(normal), "--abnormal",
               str(abnormal), "--device", "cpu", "--quiet", "--json", str(report_path)])
    assert rc == 0
    report = json.loads(report_path.read_text())
    assert report["n_normal"] == 12 and report["n_abnormal"] == 4 and report["n_unreadable"] == 1
    model = squid_core.load_model(out)
    stored = {p["name"]: p["threshold"] for p in model.metadata["operating_points"]}
    for op in report["operating_points"]:
        assert op["threshold"] == stored[op["name"]]  # never re-tuned on the evaluated set
    assert 0.0 <= report["auc"] <= 1.0 and report["roc"]["fpr"][0] == 0.0
    assert "AUC" in capsys.readouterr().out


def test_score_files_and_folders_reports_unreadable(trained):
    root, normal, abnormal, out = trained
    csv_path = root / "scores.csv"
    rc = main(["score", str(normal), str(abnormal / "a000.png"), str(root / "missing.png"),
               "--model", str(out), "--device", "cpu", "--quiet", "--csv", str(csv_path)])
    assert rc == 0
    rows = list(csv.DictReader(open(csv_path)))
    assert len(rows) == 15  # 13 files in the folder (one broken) + 1 file + 1 missing
    errors = [r for r in rows if r["error"]]
    assert len(errors) == 2
    good = [r for r in rows if not r["error"]]
    assert all(0.0 <= float(r["score"]) <= 100.0 and r["flagged"] in ("yes", "no", "review")
               for r in good)
    js = root / "scores.json"
    assert main(["score", str(abnormal), "--model", str(out), "--device", "cpu", "--quiet",
                 "--json", str(js)]) == 0
    doc = json.loads(js.read_text())
    assert len(doc["images"]) == 4 and doc["operating_point"] == "balanced"


def test_digitanatomy_command(tmp_path):
    mnist = write_fake_mnist(tmp_path / "mnist")
    out = tmp_path / "da"
    assert main(["digitanatomy", "--mnist", str(mnist), "--out", str(out), "--normal", "2",
                 "--abnormal", "4", "--seed", "1"]) == 0
    assert len(list((out / "abnormal").glob("*.png"))) == 4
    assert (out / "labels.csv").exists()


@pytest.mark.slow  # four short compact trainings: ~10 s of CPU
def test_resume_continues_from_checkpoint(trained, tmp_path):
    _, normal, _, _ = trained
    out = tmp_path / "r.safetensors"
    args = ["train", "--preset", "compact", "--normal", str(normal), "--epochs", "1",
            "--batch-size", "4", "--device", "cpu", "--quiet", "--out", str(out)]
    assert main(args) == 0  # one full epoch of 3 steps: a checkpoint exists
    ckpt = tmp_path / "r.ckpt" / "last.pt"
    assert ckpt.exists()
    assert main([*args[:-2], "--epochs", "2", "--resume", str(ckpt), "--out", str(out)]) == 0
    resumed = squid_core.load_model(out)
    assert resumed.metadata["training"]["epochs"] == 2
    assert resumed.metadata["training"]["global_step"] == 6
    # An uninterrupted 2-epoch run with the same seed ends with the same weights.
    straight = tmp_path / "s.safetensors"
    assert main([*args[:-2], "--epochs", "2", "--out", str(straight)]) == 0
    a, b = resumed.state_dict(), squid_core.load_model(straight).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("command", ["train", "eval", "score", "digitanatomy", "calibrate",
                                     "import-reference", "info"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0 and "usage" in capsys.readouterr().out


def test_cli_reports_disk_and_model_file_errors_without_a_traceback(trained, mount_tmpfs,
                                                                     remount_read_only, capsys):
    root, normal, abnormal, out = trained
    disk = mount_tmpfs("ro", "64k")
    earlier = disk / "scores.csv"
    earlier.write_text("earlier\n")
    remount_read_only(disk)
    rc = main(["score", str(abnormal), "--model", str(out), "--device", "cpu", "--quiet",
               "--csv", str(earlier)])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err
    assert "squid score: error:" in err and "scores.csv" in err and "ead-only" in err
    assert earlier.read_text() == "earlier\n"
    damaged = root / "damaged.safetensors"
    damaged.write_bytes(out.read_bytes()[:1000])
    rc = main(["score", str(abnormal), "--model", str(damaged), "--device", "cpu", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err and "damaged.safetensors" in err


def test_calibrate_recomputes_calibration_and_operating_points(trained, tmp_path):
    root, normal, abnormal, out = trained
    legacy = squid_core.load_model(out)
    legacy.metadata.pop("discriminator_statistics")  # a file from before the key existed
    legacy.metadata["calibration"] = {"mu": 123.0, "sigma": 9.0, "n_images": 1}
    old = tmp_path / "legacy.safetensors"
    legacy.save(old)
    assert squid_core.load_model(old).discriminator_statistics == "running"
    new = tmp_path / "calibrated.safetensors"
    rc = main(["calibrate", "--model", str(old), "--normal", str(normal), "--val-normal",
               str(normal), "--val-abnormal", str(abnormal), "--device", "cpu", "-o", str(new)])
    assert rc == 0
    model = squid_core.load_model(new)
    assert model.discriminator_statistics == "per-image"
    cal = model.metadata["calibration"]
    assert cal["n_images"] == 12 and cal["mu"] != 123.0  # 13 files, one broken
    assert {p["name"] for p in model.metadata["operating_points"]} == {"balanced", "high sensitivity"}
    assert model.metadata["metrics"]["validation"]["n_abnormal"] == 4
    assert model.metadata["calibrated_on"]["discriminator_statistics_before"] == "running"
    for k, v in legacy.generator.state_dict().items():  # weights unchanged
        assert torch.equal(v, model.generator.state_dict()[k]), k
    # The stored calibration is what scoring uses: normals average about mu.
    from squid_core.io import find_image_files
    from squid_core.scoring.calibration import run_model
    from squid_core.training.datasets import load_image_set

    images = load_image_set(find_image_files([normal]), (model.config.image_size,) * 2, 0, 1)
    logits = run_model(model, [images.batch(list(range(len(images))))]).logits
    assert abs(float(logits.mean()) - cal["mu"]) < 1e-3


@pytest.mark.parametrize("preset", ["paper", "compact", "digitanatomy"])
def test_train_uses_the_references_recipe_for_each_preset(preset):
    """zhang_best for the radiograph presets, digit_best for DigitAnatomy."""
    from squid_core.cli import build_parser
    from squid_core.cli.train import _train_config

    args = build_parser().parse_args(["train", "--preset", preset, "--out", "m.safetensors",
                                      "--epochs", "3"])
    cfg = _train_config(args, None)
    assert cfg.preset == preset and cfg.epochs == 3
    digit = preset == "digitanatomy"
    assert cfg.weights.student == (1.0 if digit else 10.0)
    assert cfg.n_critic == (1 if digit else 2)
    assert cfg.augment is not digit
    assert cfg.lr_min_factor == (0.01 if digit else 0.1)
    assert (cfg.weights.gen_adv, cfg.weights.disc, cfg.lr) == (0.005, 0.005, 1e-4)
    with pytest.raises(TypeError, match="no setting"):
        type(cfg).for_preset(preset, learning_rate=1.0)
    # the radiograph presets start from the default recipe; DigitAnatomy keeps its own
    if digit:
        assert (cfg.standardise, cfg.ema_decay) == (False, None)
    else:
        assert cfg.recipe == DEFAULT_RECIPE
        robust = RECIPES[DEFAULT_RECIPE]
        assert (cfg.augment_recipe, cfg.standardise, cfg.ema_decay) == (
            robust.augment_recipe, robust.standardise, robust.ema_decay)


@pytest.mark.parametrize("extra, expected", [
    (["--recipe", "paper"], ("paper", "paper", False, None)),
    (["--recipe", "robust"], ("robust", "acquisition", True, None)),
    # single options override one part of the recipe and keep the rest
    (["--recipe", "robust", "--no-standardise"], ("robust", "acquisition", False, None)),
    (["--recipe", "robust", "--ema", "0.998"], ("robust", "acquisition", True, 0.998)),
    (["--recipe", "robust", "--ema", "0.998", "--ema", "0"], ("robust", "acquisition", True, None)),
    (["--recipe", "paper", "--standardise", "--ema", "0.99"], ("paper", "paper", True, 0.99)),
    (["--recipe", "paper", "--augment", "acquisition"], ("paper", "acquisition", False, None)),
])
def test_a_named_recipe_and_the_options_that_override_it(extra, expected):
    from squid_core.cli import build_parser
    from squid_core.cli.train import _train_config

    args = build_parser().parse_args(["train", "--preset", "compact", "--out", "m.safetensors",
                                      *extra])
    cfg = _train_config(args, None)
    assert (cfg.recipe, cfg.augment_recipe, cfg.standardise, cfg.ema_decay) == expected


def test_a_recipe_for_digitanatomy_is_a_clear_error(capsys, tmp_path):
    assert main(["train", "--preset", "digitanatomy", "--recipe", "robust",
                 "--out", str(tmp_path / "d.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "chest radiographs" in err and "Traceback" not in err


def _train_args(normal, out, *extra: str) -> list[str]:
    return ["train", "--preset", "compact", "--normal", str(normal), "--batch-size", "4",
            "--device", "cpu", "--quiet", "--out", str(out), *extra]


def test_val_fraction_holds_out_that_share_of_the_normals(trained, tmp_path):
    _, normal, abnormal, _ = trained
    out = tmp_path / "f.safetensors"
    assert main(_train_args(normal, out, "--val-fraction", "0.25", "--val-abnormal",
                            str(abnormal), "--epochs", "1", "--max-steps", "1")) == 0
    meta = squid_core.load_model(out).metadata
    data = meta["training"]["data"]
    # 12 readable normals: round(0.25 * 12) = 3 held out for validation, 9 to train on
    assert (data["n_train"], data["n_val_normal"], data["n_val_abnormal"]) == (9, 3, 4)
    assert data["split"]["val_fraction"] == 0.25
    assert meta["calibration"]["n_images"] == 9
    val = meta["metrics"]["validation"]
    assert (val["n_normal"], val["n_abnormal"]) == (3, 4)


@pytest.mark.parametrize("extra, message", [
    (["--val-fraction", "0.2", "--val-normal", "N"], "--val-normal replaces --val-fraction"),
    (["--val-count", "2", "--val-normal", "N"], "--val-normal replaces --val-fraction"),
    (["--val-fraction", "0.2", "--val-count", "2"], "--val-fraction or --val-count, not both"),
    (["--val-fraction", "1.5"], "--val-fraction must be at least 0 and below 1"),
    (["--val-fraction", "-0.1"], "--val-fraction must be at least 0 and below 1"),
    (["--val-count", "-1"], "--val-count cannot be negative"),
    (["--ema", "1.5"], "--ema must lie in [0, 1)"),
    (["--ema", "-0.5"], "--ema must lie in [0, 1)"),
    # abnormal validation images without normal ones: refused before any training step
    (["--val-abnormal", "A"], "abnormal images but no normal one"),
    (["--val-abnormal", "A", "--val-fraction", "0"], "abnormal images but no normal one"),
])
def test_validation_options_that_conflict_are_clear_errors(trained, tmp_path, capsys, extra,
                                                           message):
    _, normal, abnormal, _ = trained
    extra = [{"N": str(normal), "A": str(abnormal)}.get(a, a) for a in extra]
    out = tmp_path / "never.safetensors"
    assert main(_train_args(normal, out, "--epochs", "1", *extra)) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists() and not out.with_suffix(".ckpt").exists()


def test_max_minutes_stops_after_the_epoch_that_reaches_the_limit(trained, tmp_path):
    _, normal, abnormal, _ = trained
    out = tmp_path / "t.safetensors"
    assert main(_train_args(normal, out, "--val-count", "4", "--val-abnormal", str(abnormal),
                            "--epochs", "5", "--max-minutes", "0.001")) == 0
    training = squid_core.load_model(out).metadata["training"]
    assert training["config"]["max_seconds"] == pytest.approx(0.06)
    assert training["status"] == "time_limit" and training["epochs"] == 1
    assert training["seconds"] >= 0.06


def test_init_continues_from_the_weights_of_a_model_file(trained, tmp_path):
    _, normal, abnormal, trained_path = trained
    # A model whose weights no fresh initialisation (whatever the seed) comes near.
    start = squid_core.load_model(trained_path)
    torch.manual_seed(7)
    with torch.no_grad():
        for p in start.generator.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    start.metadata["name"] = "site model"
    init = tmp_path / "init.safetensors"
    start.save(init)
    out = tmp_path / "i.safetensors"
    assert main(_train_args(normal, out, "--init", str(init), "--val-count", "4",
                            "--val-abnormal", str(abnormal), "--epochs", "1",
                            "--max-steps", "1")) == 0
    after = squid_core.load_model(out)
    assert after.config == start.config and after.name == "site model"
    # One Adam step of lr 1e-4 moves each weight by about 1e-4: the run started from
    # the file's weights, not from a fresh initialisation.
    for key, value in start.generator.state_dict().items():
        if key.endswith(".weight") and value.ndim >= 2:  # convolutions and linear layers
            assert (after.generator.state_dict()[key] - value).abs().max().item() < 1e-3, key
    assert after.metadata["training"]["global_step"] == 1


def test_calibrate_can_write_over_its_input(trained, tmp_path):
    """The model card's own command: ``squid calibrate --model M ... -o M``."""
    import shutil

    _, normal, abnormal, out = trained
    model_path = tmp_path / "model.safetensors"
    shutil.copy(out, model_path)
    weights = squid_core.load_model(model_path).state_dict()
    rc = main(["calibrate", "--model", str(model_path), "--normal", str(normal),
               "--val-normal", str(normal), "--val-abnormal", str(abnormal), "--device", "cpu",
               "-o", str(model_path)])
    assert rc == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]  # no leftovers
    model = squid_core.load_model(model_path)
    assert model.metadata["calibration"]["n_images"] == 12
    assert model.metadata["metrics"]["validation"]["n_normal"] == 12
    for key, value in weights.items():
        assert torch.equal(value, model.state_dict()[key]), key


def test_calibrate_with_normals_only_sets_a_specificity_point(trained, tmp_path):
    _, normal, _, out = trained
    new = tmp_path / "normals_only.safetensors"
    assert main(["calibrate", "--model", str(out), "--normal", str(normal), "--device", "cpu",
                 "-o", str(new)]) == 0
    model = squid_core.load_model(new)
    meta = model.metadata
    assert [p["name"] for p in meta["operating_points"]] == ["balanced"]
    assert meta["default_operating_point"] == "balanced" and meta["metrics"] is None
    assert "training normals (no validation split)" in meta["operating_points"][0]["rule"]
    # The point keeps at least 90 % of the calibration normals below the threshold.
    from squid_core.io import find_image_files
    from squid_core.scoring.calibration import run_model, scores_from_logits
    from squid_core.training.datasets import load_image_set

    images = load_image_set(find_image_files([normal]), (model.config.image_size,) * 2, 0, 1)
    logits = run_model(model, [images.batch(list(range(len(images))))]).logits
    cal = meta["calibration"]
    scores = scores_from_logits(logits, cal["mu"], cal["sigma"])
    threshold = meta["operating_points"][0]["threshold"]
    assert (scores < threshold).mean() >= 0.90
    # and it is the margin rule's threshold (the bootstrap lower bound of the specificity
    # reaches 0.90), never below the point rule's lowest such threshold
    from squid_core.scoring.operating_point import (
        threshold_for_specificity,
        threshold_for_specificity_bound,
    )

    labels = np.zeros(len(scores), dtype=int)
    assert threshold == pytest.approx(threshold_for_specificity_bound(scores, labels, 0.90))
    assert threshold >= threshold_for_specificity(scores, labels, 0.90)
    assert "bootstrap" in meta["operating_points"][0]["rule"]
    assert meta["operating_points"][0]["specificity"] == pytest.approx((scores < threshold).mean())


def test_ema_is_recorded_in_the_recipe_of_the_model_written(trained, tmp_path):
    _, normal, abnormal, _ = trained
    out = tmp_path / "e.safetensors"
    assert main(_train_args(normal, out, "--val-count", "4", "--val-abnormal", str(abnormal),
                            "--epochs", "1", "--max-steps", "2", "--ema", "0.99")) == 0
    assert squid_core.load_model(out).metadata["training"]["config"]["ema_decay"] == 0.99
