"""What the plugin provides, for worldsim's plugin discovery (entry-point group `worldsim.plugins`).

The entry point is `register(subparsers)`: it adds `worldsim ttt render | describe | classifier | agreement | consistency` and imports
only this module and worldsim_ttt.command (no torch work, no Triton compile). The plugin also
registers the offline renderer `ttt-film` (entry-point group `worldsim.renderers`,
worldsim_ttt.film_renderer:FilmRenderer): a session's film is sampled whole at open, then played back.
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
        "modules": ["worldsim_ttt.layer:TTTLayer", "worldsim_ttt.layer:GatedBidirectionalTTT",
                    "worldsim_ttt.longform:LongFormModel", "worldsim_ttt.caption_classifier:CaptionClassifier"],
        "commands": ["worldsim ttt render", "worldsim ttt describe", "worldsim ttt classifier train",
                     "worldsim ttt classifier eval", "worldsim ttt agreement", "worldsim ttt consistency"],
        "renderers": ["worldsim_ttt.film_renderer:FilmRenderer"],    # `ttt-film`, offline: the film is sampled at open
        "docs": "docs/ttt.md",
    }


def register(subparsers) -> None:
    """The `worldsim.plugins` entry: add `worldsim ttt ...` to worldsim's CLI."""
    from .command import register as add_commands
    add_commands(subparsers)


def available_backends() -> list[str]:
    """'torch' always; 'triton' where Triton is installed and a CUDA GPU is visible."""
    import torch
    backends = ["torch"]
    if importlib.util.find_spec("triton") is not None and torch.cuda.is_available():
        backends.append("triton")
    return backends
