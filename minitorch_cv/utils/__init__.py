"""`torch.utils`'s place: `minitorch_cv.utils.data` is `torch.utils.data`,
`minitorch_cv.utils.checkpoint` is `torch.utils.checkpoint` (activation checkpointing)."""

from . import checkpoint, data

__all__ = ["checkpoint", "data"]
