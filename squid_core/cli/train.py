"""``squid train``: train (or fine-tune, or resume) a SQUID model on normal images."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from squid_core.training.recipes import DEFAULT_RECIPE, RECIPES, recipe_names

DEFAULT_MNIST = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a SQUID model on folders of normal images (or on DigitAnatomy)",
        description=(
            "Train SQUID with the paper's losses and optimiser (five weighted losses, Adam, "
            "cosine schedule, discriminator every step and generator every 2nd) and a named "
            "recipe for what the networks see and which weights are kept (--recipe; the "
            "default, robust, is measured in docs/robustness.md). Images are decoded once into "
            "memory. Validation AUC is measured every epoch, the best weights are kept, a "
            "checkpoint is written atomically after every epoch (resume with --resume), and "
            "the final model is calibrated on the training normals with operating points "
            "chosen on the validation split. With --preset digitanatomy, normal 3x3 MNIST grids "
            "are drawn on the fly and validation uses a generated labelled set. "
            "Under torchrun (e.g. `torchrun --standalone --nproc_per_node=N -m squid_core "
            "train ...`) it trains data-parallel with DistributedDataParallel over all "
            "processes (nccl on GPUs, gloo on CPUs): --batch-size is then the GLOBAL batch, "
            "split evenly (each process takes batch/world-size images per step); the memory "
            "queues receive the whole global batch on every process; only rank 0 validates "
            "and writes checkpoints, the model file and logs. See docs/distributed.md."
        ),
    )
    p.add_argument("--preset", choices=("paper", "compact", "digitanatomy"), default="paper",
                   help="model configuration (default: paper)")
    p.add_argument("--init", type=Path, metavar="MODEL",
                   help="fine-tune: start from this model file's weights instead of from scratch")
    p.add_argument("--normal", type=Path, nargs="+", default=[], metavar="DIR",
                   help="folder(s) of normal training images (DICOM/PNG/JPEG/TIFF, recursive)")
    p.add_argument("--val-normal", type=Path, nargs="+", default=[], metavar="DIR",
                   help="folder(s) of normal validation images")
    p.add_argument("--val-abnormal", type=Path, nargs="+", default=[], metavar="DIR",
                   help="folder(s) of abnormal validation images")
    p.add_argument("--val-fraction", type=float, metavar="F",
                   help="hold out this fraction of the --normal images for validation")
    p.add_argument("--val-count", type=int, metavar="N",
                   help="hold out N of the --normal images for validation")
    p.add_argument("--val-max-abnormal", type=int, metavar="N",
                   help="use at most N --val-abnormal images (chosen deterministically)")
    p.add_argument("--mnist", type=Path, default=DEFAULT_MNIST,
                   help="MNIST IDX folder for --preset digitanatomy (default: %(default)s)")
    recipes = "; ".join(f"{r.name}, {r.title}" for r in RECIPES.values())
    p.add_argument("--recipe", choices=recipe_names(), default=None,
                   help=(f"training recipe (default: {DEFAULT_RECIPE}): {recipes}. The options "
                         "below override single parts of it. Chest presets only"
                         ).replace("%", "%%"))
    p.add_argument("--augment", choices=("paper", "acquisition", "none"),
                   help="training augmentation instead of the recipe's: paper (random "
                        "affine, translate 5 %%, scale 0.95-1.05), acquisition (zoom "
                        "0.8-1.25 with an edge border, gamma, contrast, sharpness, noise) "
                        "or none")
    p.add_argument("--ema", type=float, metavar="DECAY", default=None,
                   help="instead of the recipe's: validate, keep and write an exponential "
                        "moving average of the weights (e.g. 0.998, about the last 500 "
                        "steps; buffers such as the memory stay live); 0 turns it off")
    p.add_argument("--standardise", action=argparse.BooleanOptionalAction, default=None,
                   help="instead of the recipe's: match every image's histogram to the "
                        "training normals' mean histogram in training, calibration and "
                        "scoring (stored in the model; a model fine-tuned with --init "
                        "inherits its reference)")
    p.add_argument("--epochs", type=int, help="number of epochs (default: 200)")
    p.add_argument("--max-steps", type=int, help="stop after this many steps in total")
    p.add_argument("--max-minutes", type=float,
                   help="stop after the first epoch that ends past this much training time")
    p.add_argument("--batch-size", type=int,
                   help="images per step (default: 16); under torchrun the GLOBAL batch, "
                        "split evenly over the processes (per-process batch = B / world size)")
    p.add_argument("--patience", type=int,
                   help="stop after this many epochs without validation AUC gain (0 = never; "
                        "default 20)")
    p.add_argument("--images-per-epoch", type=int,
                   help="DigitAnatomy grids per epoch (default: 1600)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | mps (default: auto)")
    p.add_argument("--bf16", action="store_true",
                   help="bfloat16 autocast (pays on GPUs and CPUs with AVX512-BF16/AMX)")
    p.add_argument("--channels-last", action="store_true", help="NHWC memory format")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--workers", type=int, default=2, help="threads decoding images (default 2)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--resume", type=Path, metavar="CKPT",
                   help="continue exactly from a checkpoint (last.pt); the checkpoint's settings "
                        "are used, except --epochs/--max-steps/--max-minutes/--patience when given")
    p.add_argument("--checkpoint-dir", type=Path, metavar="DIR",
                   help="where last.pt and best.pt go (default: OUT without suffix + '.ckpt')")
    p.add_argument("--name", help="model name stored in the file (default: the preset)")
    p.add_argument("--notes", default="", help="free text stored in the model file")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    dist = p.add_argument_group("distributed training (under torchrun)")
    dist.add_argument("--backend", choices=("nccl", "gloo", "mpi", "ucc"),
                      help="torch.distributed backend (default: nccl on CUDA, gloo otherwise)")
    dist.add_argument("--sync-bn", action="store_true",
                      help="BatchNorm statistics over the global batch (SyncBatchNorm; on CPU "
                           "an equivalent gloo implementation)")
    dist.add_argument("--dist-timeout", type=float, default=60.0, metavar="MINUTES",
                      help="how long a process waits for the others in a collective, e.g. "
                           "while rank 0 validates (default 60)")
    p.add_argument("--out", type=Path, required=True, metavar="MODEL",
                   help="model file to write (.safetensors); written only when training ends")
    p.set_defaults(func=run)


def _fail(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return 2


def _train_config(args: argparse.Namespace, resumed: dict | None):
    from squid_core.training.config import TrainConfig
    from squid_core.training.recipes import apply_recipe

    cfg = TrainConfig.from_dict(resumed) if resumed else TrainConfig.for_preset(args.preset)
    if resumed is None:
        cfg.seed = args.seed
        cfg.bf16, cfg.channels_last = args.bf16, args.channels_last
        if args.preset != "digitanatomy":  # run() refuses --recipe with DigitAnatomy
            apply_recipe(cfg, args.recipe or DEFAULT_RECIPE)
        if args.standardise is not None:
            cfg.standardise = args.standardise
        if args.ema is not None:
            cfg.ema_decay = args.ema or None
        if args.augment == "none":
            cfg.augment = False
        elif args.augment is not None:
            cfg.augment, cfg.augment_recipe = True, args.augment
        for name in ("batch_size", "images_per_epoch"):
            if getattr(args, name) is not None:
                setattr(cfg, name, getattr(args, name))
    for name in ("epochs", "max_steps", "patience"):
        if getattr(args, name) is not None:
            setattr(cfg, name, getattr(args, name))
    if args.max_minutes is not None:
        cfg.max_seconds = 60.0 * args.max_minutes
    return cfg


def run(args: argparse.Namespace) -> int:
    import torch

    from squid_core.scoring.device import resolve_device
    from squid_core.training import distributed

    env = distributed.distributed_env()
    if args.val_fraction is not None and args.val_count is not None:
        return _fail("give --val-fraction or --val-count, not both")
    if args.val_normal and (args.val_fraction is not None or args.val_count is not None):
        return _fail("--val-normal replaces --val-fraction/--val-count; give one of them")
    if args.val_fraction is not None and not 0.0 <= args.val_fraction < 1.0:
        return _fail(f"--val-fraction must be at least 0 and below 1, not {args.val_fraction}")
    if args.val_count is not None and args.val_count < 0:
        return _fail(f"--val-count cannot be negative ({args.val_count})")
    if args.ema is not None and not 0.0 <= args.ema < 1.0:
        return _fail(f"--ema must lie in [0, 1) (e.g. 0.998; 0 = off), not {args.ema}")
    if args.recipe is not None and args.preset == "digitanatomy" and args.resume is None:
        return _fail("--recipe applies to chest radiographs, not to --preset digitanatomy")
    if (env is None or env["rank"] == 0) and not args.out.parent.is_dir():  # rank 0 writes
        return _fail(f"output folder {args.out.parent} does not exist")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if env is None:
        if args.sync_bn or args.backend:
            return _fail("--sync-bn and --backend apply to runs started with torchrun")
        return _run(args, device, None)
    if device.type not in ("cpu", "cuda"):
        return _fail(f"distributed training supports cpu and cuda devices, not {device.type}")
    ctx = distributed.init_from_env(device, backend=args.backend, sync_bn=args.sync_bn,
                                    timeout_minutes=args.dist_timeout)
    try:
        return _run(args, ctx.device, ctx)
    except RuntimeError as exc:
        if ctx.is_main or not distributed.is_peer_failure(exc):
            raise
        # Another process (rank 0 after a full disk, say) has failed and said why; this
        # rank's broken collective adds nothing but a long traceback.
        print(f"squid train (rank {ctx.rank}): stopped: another process of this run "
              "failed (its message is above)", file=sys.stderr)
        return 1
    finally:
        distributed.shutdown()


def _run(args: argparse.Namespace, device, ctx) -> int:
    import squid_core
    from squid_core.training.callbacks import TqdmCallbacks, TrainingCallbacks
    from squid_core.training.checkpoint import load_checkpoint
    from squid_core.training.data_setup import digit_training_data, folder_training_data
    from squid_core.training.trainer import seed_everything, train

    main = ctx is None or ctx.is_main

    seed_everything(args.seed)  # initial weights too (the checkpoint restores its own RNG)
    resumed = None
    if args.resume is not None:
        ck = load_checkpoint(args.resume, restore_rng=False)
        resumed = ck["train_config"]
        model = squid_core.build_model(ck["model_config"])
        del ck
    elif args.init is not None:
        model = squid_core.load_model(args.init)
        model.generator.train()
        model.discriminator.train()
    else:
        model = squid_core.build_model(args.preset)
    cfg = _train_config(args, resumed)
    model.metadata["name"] = args.name or model.metadata.get("name") or f"squid-{cfg.preset}"
    model.metadata["notes"] = args.notes

    if ctx is not None:
        from squid_core.training.distributed import per_rank_batch

        try:
            per_rank_batch(cfg.batch_size, ctx.world_size)
        except ValueError as e:
            return _fail(str(e))
    # Only rank 0 shows progress and logs; the other ranks train silently.
    cb = TqdmCallbacks(disable=True if args.quiet else None) if main else TrainingCallbacks()
    size = (model.config.image_size, model.config.image_size)
    if cfg.preset == "digitanatomy" and not args.normal:
        data = digit_training_data(args.mnist, seed=cfg.seed)
    elif not args.normal:
        return _fail("--normal DIR is required (except for --preset digitanatomy)")
    else:
        data = folder_training_data(
            args.normal, size, val_normal_dirs=args.val_normal,
            val_abnormal_dirs=args.val_abnormal, val_fraction=args.val_fraction,
            val_count=args.val_count, val_max_abnormal=args.val_max_abnormal, seed=cfg.seed,
            workers=args.workers, status=cb.on_status,
        )
        for r in data.rejected if main else []:
            print(f"skipped {r.path}: {r.reason}", file=sys.stderr)
        if main:
            print(f"{len(data.train)} training images, validation: "
                  f"{data.summary['n_val_normal']} normal / {data.summary['n_val_abnormal']} abnormal, "
                  f"{len(data.rejected)} files skipped", file=sys.stderr)
        if data.summary["n_val_abnormal"] and not data.summary["n_val_normal"]:
            # Caught before training: the operating points need normal validation scores.
            return _fail("the validation split has abnormal images but no normal one: give "
                         "--val-normal DIR, --val-fraction F or --val-count N")
        if len(data.train) < cfg.batch_size:
            return _fail(f"only {len(data.train)} readable training images; need at least "
                         f"{cfg.batch_size} (one batch)")
    ckpt_dir = args.checkpoint_dir or args.out.with_suffix(".ckpt")
    result = train(model, data, cfg, out_path=args.out, checkpoint_dir=ckpt_dir,
                   resume=args.resume, device=device, callbacks=cb, dist=ctx)
    if not main:
        return 1 if result.status == "cancelled" else 0
    if result.status == "cancelled":
        print(f"cancelled; last checkpoint: {result.checkpoint_path}", file=sys.stderr)
        return 1
    best = "n/a" if result.best_auc is None else f"{result.best_auc:.4f}"
    print(f"{result.status}: {result.epochs_done} epochs, {result.global_step} steps, "
          f"best validation AUC {best}; wrote {result.out_path} (checkpoints in {ckpt_dir})")
    return 0
