"""SQUID's reconstruction-side losses, unweighted, so a trainer can weight them.

* ``student``: MSE between the student reconstruction and the input;
* ``teacher``: MSE between the teacher reconstruction and the input;
* ``distill``: sum over up blocks of the MSE between student and teacher features
  (gradients reach both, as in the reference).

The paper weights them 10, 0.01 and 0.001; the adversarial terms need the
discriminator and live in the trainer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F


def reconstruction_losses(out: Mapping[str, Any], x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Losses from a training-mode generator output ``out`` and its input ``x``."""
    recon = out["recon"]
    student = F.mse_loss(recon, x)
    zero = recon.new_zeros(())
    teacher_recon = out.get("teacher_recon")
    teacher = F.mse_loss(teacher_recon, x) if teacher_recon is not None else zero
    s_feats = out.get("student_features") or []
    t_feats = out.get("teacher_features") or []
    if s_feats and t_feats:
        distill = torch.stack([F.mse_loss(s, t) for s, t in zip(s_feats, t_feats, strict=True)]).sum()
    else:
        distill = zero
    return {"student": student, "teacher": teacher, "distill": distill}
