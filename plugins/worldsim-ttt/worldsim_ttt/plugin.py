"""What the plugin provides, for worldsim's plugin discovery (entry-point group `worldsim.plugins`).

Loading the entry point imports only this module: no torch work, no Triton compile.
`python -m worldsim_ttt` prints the same description plus which backends can run here.
"""
from __future__ import annotations

import importlib.util


def describe() -> dict:
    from . import __version__
    return {
        "name": "ttt",
        "package": "worldsim-ttt",
        "version": __version__,
        "summary": "Test-time-training layers (TTT-MLP, TTT-Linear), gated bidirectional block, Triton scan kernels",
        "ops": ["worldsim_ttt.ops:ttt_mlp", "worldsim_ttt.ops:ttt_linear"],
        "modules": ["worldsim_ttt.layer:TTTLayer", "worldsim_ttt.layer:GatedBidirectionalTTT"],
        "renderers": [],   # the long-form storyboard renderer is not part of this release
        "docs": "docs/ttt.md",
    }


def available_backends() -> list[str]:
    """'torch' always; 'triton' where Triton is installed and a CUDA GPU is visible."""
    import torch
    backends = ["torch"]
    if importlib.util.find_spec("triton") is not None and torch.cuda.is_available():
        backends.append("triton")
    return backends
