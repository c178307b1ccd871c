"""Paired comparison of two models (or two scorings) on the same labelled images.

    python bench/compare_auc.py BASELINE.json CANDIDATE.json [--bootstrap 2000] [--seed 0]

Both files are ``squid eval --json`` reports of the same images (matched by path; images
unreadable or missing in either are left out). Prints both AUCs and AUC(candidate) -
AUC(baseline) with its paired stratified bootstrap 95 % interval
(``squid_core.bootstrap.bootstrap_auc_difference``): the yardstick for "kept only if it
helps" when comparing recipes on one report split.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _ranks(report: dict) -> dict[str, tuple[float, int]]:
    return {im["path"]: (-float(im["raw_logit"]), int(im["label"]))
            for im in report.get("images") or [] if im.get("raw_logit") is not None}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("baseline", type=Path)
    ap.add_argument("candidate", type=Path)
    ap.add_argument("--bootstrap", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from squid_core.bootstrap import bootstrap_auc, bootstrap_auc_difference

    try:
        a, b = (_ranks(json.loads(p.read_text())) for p in (args.baseline, args.candidate))
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"error: cannot read the reports: {e}", file=sys.stderr)
        return 2
    common = sorted(set(a) & set(b))
    if any(a[p][1] != b[p][1] for p in common):
        print("error: the two reports label some images differently", file=sys.stderr)
        return 2
    labels = [a[p][1] for p in common]
    if not 0 < sum(labels) < len(labels):
        print("error: need normal and abnormal images common to both reports",
              file=sys.stderr)
        return 2
    sa, sb = [a[p][0] for p in common], [b[p][0] for p in common]
    kw = {"n_boot": args.bootstrap, "seed": args.seed}
    print(f"{len(labels) - sum(labels)} normal, {sum(labels)} abnormal images in both reports")
    print(f"baseline  AUC {bootstrap_auc(sa, labels, **kw)}")
    print(f"candidate AUC {bootstrap_auc(sb, labels, **kw)}")
    print(f"difference (candidate - baseline, paired) {bootstrap_auc_difference(sa, sb, labels, **kw)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
