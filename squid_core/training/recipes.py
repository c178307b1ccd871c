"""Named training recipes: augmentation, intensity standardisation and weight average.

Why: the model's architecture and losses are the paper's in every recipe; what differs
is what the networks see during training and which weights are kept. Issue 15 measured
that the paper's recipe scores framing and exposure as much as lungs
(docs/robustness.md), so ``squid train`` and the training wizard default to the
``robust`` recipe, and the paper's stays selectable by name. An average of the weights
(``--ema``) steadied the validation AUC but lost its best epochs, so no recipe uses it
(measured with three seeds, docs/robustness.md); it stays an option. A recipe only fills in
:class:`~squid_core.training.config.TrainConfig` fields; explicit options given after
it (``squid train --augment/--standardise/--ema``) override single fields, and the
recipe's name is stored in the model file's training metadata.

Recipes apply to chest-radiograph presets; the DigitAnatomy preset keeps its own
reference settings.
"""

from __future__ import annotations

from dataclasses import dataclass

from squid_core.training.config import TrainConfig

__all__ = ["Recipe", "RECIPES", "DEFAULT_RECIPE", "apply_recipe", "recipe_names"]


@dataclass(frozen=True)
class Recipe:
    """What a recipe sets. ``ema_decay`` None means no weight average."""

    name: str
    label: str  # a few words for a menu
    title: str  # one line for help and the wizard's description
    augment_recipe: str  # a name known to squid_core.training.augment
    standardise: bool
    ema_decay: float | None


RECIPES: dict[str, Recipe] = {
    "robust": Recipe(
        "robust", "Robust to acquisition (recommended)",
        "robust to acquisition: histogram standardisation and acquisition augmentation "
        "(zoom 0.8-1.25, gamma, contrast, sharpness, noise); the best epoch's weights",
        augment_recipe="acquisition", standardise=True, ema_decay=None),
    "paper": Recipe(
        "paper", "Paper (Xiang et al., CVPR 2023)",
        "the paper's (Xiang et al., CVPR 2023): random affine (translate 5 %, scale "
        "0.95-1.05), images as they are, the last weights",
        augment_recipe="paper", standardise=False, ema_decay=None),
}

#: The recipe of ``squid train`` and the wizard when none is named.
DEFAULT_RECIPE = "robust"


def recipe_names() -> list[str]:
    """The recipes' names, the default first."""
    return [DEFAULT_RECIPE] + [n for n in RECIPES if n != DEFAULT_RECIPE]


def apply_recipe(cfg: TrainConfig, name: str) -> TrainConfig:
    """Set ``cfg``'s augmentation, standardisation and EMA from recipe ``name`` (in place).

    Raises ValueError for an unknown name or for the DigitAnatomy preset, whose
    synthetic grids take no acquisition recipe.
    """
    recipe = RECIPES.get(name)
    if recipe is None:
        raise ValueError(f"unknown training recipe {name!r}; choose one of "
                         f"{', '.join(recipe_names())}")
    if cfg.preset == "digitanatomy":
        raise ValueError("training recipes apply to chest radiographs, not to the "
                         "digitanatomy preset")
    cfg.recipe = recipe.name
    cfg.augment, cfg.augment_recipe = True, recipe.augment_recipe
    cfg.standardise = recipe.standardise
    cfg.ema_decay = recipe.ema_decay
    return cfg
