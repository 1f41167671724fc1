"""`torch.utils`'s place: `minitorch_cv.utils.data` is `torch.utils.data`."""

from . import data

__all__ = ["data"]
