"""What limits a DigitAnatomy model: its discriminator, or its reconstructions?

SQUID scores an image by D(reconstruction). When a DigitAnatomy model scores at
chance, this probe separates two explanations, on a model file or a training
checkpoint (printing figures, changing nothing):

1. Shortcut: the discriminator's logit on real test normals, on the same grids
   with +0.01 added (MNIST backgrounds are exactly 0, a sigmoid output never is),
   and on their reconstructions. A discriminator that drops far below the
   reconstructions' logit for a 1 % offset judges background exactness, not digits.
2. A bound: a fresh network of the discriminator's architecture is trained,
   *with labels*, to tell reconstructions of normal training grids from
   reconstructions of anomalous ones (all four types), then tested on the fixed
   test set's reconstructions (each image normalised by its own statistics, in
   training as at test, so that a batch cannot give the label away). For the same
   architecture and budget, an unsupervised discriminator should not rank better
   than this supervised one; if this one is near chance, the reconstructions do not
   carry the anomaly. The same classifier trained on the input grids themselves
   shows what there is to find.
3. The unsupervised recipe again: a fresh discriminator trained on real normal
   grids against their (train-mode) reconstructions, optionally with Gaussian
   instance noise on both inputs (``--noise``) to deny it the background shortcut.

    python bench/digitanatomy_probe.py runs/da3b/ckpt/last.pt \
        --mnist ../shared/data/mnist --test runs/digitanatomy/testset

Test-set AUCs are printed overall and per anomaly type (flipped, missing, swapped,
zero). About 5 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import squid_core  # noqa: E402
from squid_core.io import read_image  # noqa: E402
from squid_core.metrics import auc  # noqa: E402
from squid_core.model.discriminator import (  # noqa: E402
    Discriminator,
    with_per_image_statistics,
)
from squid_core.training.checkpoint import load_checkpoint  # noqa: E402
from squid_core.training.digit_anatomy import (  # noqa: E402
    ANOMALY_TYPES,
    DigitSource,
    make_anomaly,
    make_normal,
    read_labels,
)


def load(path: str) -> squid_core.SquidModel:
    """A model file (.safetensors) or a training checkpoint (.pt), on the CPU."""
    if path.endswith(".safetensors"):
        return squid_core.load_model(path)
    content = load_checkpoint(path, restore_rng=False)
    model = squid_core.build_model(content["model_config"])
    model.generator.load_state_dict(content["generator"])
    model.discriminator.load_state_dict(content["discriminator"])
    return model


def reconstruct(generator: torch.nn.Module, x: torch.Tensor, train_mode: bool) -> torch.Tensor:
    generator.train(train_mode)
    with torch.no_grad():
        return torch.cat(
            [generator(x[i : i + 64], teacher=False)["recon"] for i in range(0, len(x), 64)]
        )


def logits(disc: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    """Each image normalised by its own statistics, as the scorer evaluates D."""
    with torch.no_grad():
        return with_per_image_statistics(disc)(x).reshape(-1).numpy()


def train_classifier(
    pos: torch.Tensor,
    neg: torch.Tensor,
    epochs: int,
    noise: float,
    config,
    seed: int,
    per_image: bool = False,
) -> torch.nn.Module:
    """A fresh discriminator-shaped network: ``pos`` -> logit high, ``neg`` -> low.

    By default trained as SQUID trains its discriminator: batch statistics, positives
    and negatives in separate batches. ``per_image`` normalises each image by its own
    statistics in training as in testing, so batches do not leak the label: the fair
    setting for a supervised bound.
    """
    torch.manual_seed(seed)
    disc = Discriminator(config)
    if per_image:
        disc = with_per_image_statistics(disc)
    disc.train()
    opt = torch.optim.Adam(disc.parameters(), lr=1e-4, betas=(0.5, 0.999))
    n = min(len(pos), len(neg))
    for _ in range(epochs):
        perm_p, perm_n = torch.randperm(len(pos))[:n], torch.randperm(len(neg))[:n]
        for i in range(0, n, 16):
            p, q = pos[perm_p[i : i + 16]], neg[perm_n[i : i + 16]]
            if noise > 0:
                p, q = p + noise * torch.randn_like(p), q + noise * torch.randn_like(q)
            loss = F.binary_cross_entropy_with_logits(disc(p), torch.ones(len(p), 1))
            loss = loss + F.binary_cross_entropy_with_logits(disc(q), torch.zeros(len(q), 1))
            opt.zero_grad()
            loss.backward()
            opt.step()
    return disc


def report(name: str, anomaly_score: np.ndarray, labels: np.ndarray, kinds: np.ndarray) -> None:
    parts = [f"{name:58s} AUC {auc(anomaly_score, labels):.3f} |"]
    for kind in ANOMALY_TYPES:
        sel = (labels == 0) | (kinds == kind)
        parts.append(f"{kind} {auc(anomaly_score[sel], labels[sel]):.3f}")
    print(" ".join(parts), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="model file (.safetensors) or training checkpoint (.pt)")
    ap.add_argument("--mnist", required=True, help="folder with the MNIST IDX files")
    ap.add_argument("--test", required=True, help="a `squid digitanatomy` test set folder")
    ap.add_argument(
        "--train-images", type=int, default=1600, help="normal and anomalous grids each"
    )
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--noise", type=float, default=0.05, help="instance noise SD for probe 3")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)  # the train-mode reconstructions draw random masks
    t0 = time.time()

    model = load(args.model)
    gen, config = model.generator, model.config
    rows = read_labels(Path(args.test) / "labels.csv")
    test_x = torch.from_numpy(
        np.stack([read_image(Path(args.test) / r["file"]).pixels for r in rows])
    ).float()[:, None]
    test_y = np.array([int(r["label"]) for r in rows])
    kinds = np.array([r["anomaly_type"] for r in rows])

    rng = np.random.default_rng(args.seed)
    source = DigitSource.from_dir(args.mnist, part="train")
    n = args.train_images
    normal = torch.from_numpy(np.stack([make_normal(source, rng) for _ in range(n)]))[:, None]
    abnormal = torch.from_numpy(
        np.stack([make_anomaly(source, rng, ANOMALY_TYPES[i % 4])[0] for i in range(n)])
    )[:, None]
    test_recon = reconstruct(gen, test_x, train_mode=False)
    normal_recon = reconstruct(gen, normal, train_mode=False)
    abnormal_recon = reconstruct(gen, abnormal, train_mode=False)
    normal_recon_train = reconstruct(gen, normal, train_mode=True)
    print(f"model {args.model}; reconstructions in {time.time() - t0:.0f} s", flush=True)

    print("1. Shortcut: the model's discriminator, mean logit (high = real)")
    normals = test_x[test_y == 0]
    for name, x in (
        ("real normal grids", normals),
        ("the same + 0.01", normals + 0.01),
        ("their reconstructions", test_recon[test_y == 0]),
        ("reconstructions of anomalous grids", test_recon[test_y == 1]),
    ):
        print(f"   {name:36s} {logits(model.discriminator, x).mean():8.2f}")
    report(
        "   model's discriminator on reconstructions (SQUID's score)",
        -logits(model.discriminator, test_recon),
        test_y,
        kinds,
    )

    print("2. Bound: supervised, normal vs anomalous training grids")
    clf = train_classifier(
        normal_recon, abnormal_recon, args.epochs, 0.0, config, args.seed, per_image=True
    )
    report("   classifier on reconstructions", -logits(clf, test_recon), test_y, kinds)
    clf = train_classifier(normal, abnormal, args.epochs, 0.0, config, args.seed, per_image=True)
    report("   classifier on the input grids", -logits(clf, test_x), test_y, kinds)

    print("3. Unsupervised: a fresh discriminator, real normal grids vs their reconstructions")
    for noise in sorted({0.0, args.noise}):
        disc = train_classifier(normal, normal_recon_train, args.epochs, noise, config, args.seed)
        report(f"   instance noise {noise:g}", -logits(disc, test_recon), test_y, kinds)
    print(f"done in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
