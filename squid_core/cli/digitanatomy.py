"""``squid digitanatomy``: write a fixed DigitAnatomy test set (the paper's synthetic benchmark)."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_MNIST = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "digitanatomy",
        help="generate a DigitAnatomy test set (3x3 MNIST grids, four anomaly types)",
        description=(
            "Write OUT/normal/*.png and OUT/abnormal/*.png (96 x 96 grids of MNIST digits "
            "1..9 in reading order) and OUT/labels.csv naming each file's anomaly type: "
            "missing, swapped, flipped or zero. Abnormal types are balanced. The digits are "
            "the held-out fifth of MNIST that training never draws from; the set depends only "
            "on --seed."
        ),
    )
    p.add_argument("--mnist", type=Path, default=DEFAULT_MNIST,
                   help="folder with t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz "
                        "(default: %(default)s)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--normal", type=int, default=500, help="number of normal images (default 500)")
    p.add_argument("--abnormal", type=int, default=500,
                   help="number of abnormal images (default 500)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from squid_core.training.digit_anatomy import write_test_set

    if args.normal < 0 or args.abnormal < 0:
        print("error: --normal and --abnormal must be >= 0", file=sys.stderr)
        return 2
    try:
        labels = write_test_set(args.mnist, args.out, args.normal, args.abnormal, args.seed)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.normal} normal and {args.abnormal} abnormal images; labels: {labels}")
    return 0
