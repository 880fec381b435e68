"""`--device`: refuse a CUDA device this torch cannot use in one line, before any work is done."""
from __future__ import annotations

from .errors import WorldsimUserError


def require_device(device: str | None, option: str = "--device") -> None:
    """Raise a one-line WorldsimUserError when `device` names CUDA and torch has none to give."""
    if not device or not device.startswith("cuda"):
        return
    import torch
    if not torch.backends.cuda.is_built():
        raise WorldsimUserError(f"{option} {device}: this torch ({torch.__version__}) is a CPU build; install the "
                                f"CUDA build of torch or use {option} cpu")
    if not torch.cuda.is_available():
        raise WorldsimUserError(f"{option} {device}: torch sees no CUDA device here; use {option} cpu")
    index = device.partition(":")[2]
    if index.isdigit() and int(index) >= torch.cuda.device_count():
        raise WorldsimUserError(f"{option} {device}: there are {torch.cuda.device_count()} CUDA devices")
