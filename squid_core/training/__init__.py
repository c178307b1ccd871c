"""Training SQUID on normal images: data sets, augmentation, the GAN loop, checkpoints.

The public entry points are :class:`squid_core.training.config.TrainConfig` (the
recipe as data) and :func:`squid_core.training.trainer.train` (the loop, driven by
callbacks so that the CLI and the GUI wizard share it). Nothing here imports Qt.
"""
