"""worldsim-ttt: TTT layers (TTT-Linear, TTT-MLP), gated bidirectional block, Triton scan kernels.

    from worldsim_ttt import ttt_mlp, ttt_linear, TTTLayer, GatedBidirectionalTTT, SequenceLayout
"""
from .layer import GatedBidirectionalTTT, TTTLayer
from .layout import Segment, SequenceLayout
from .ops import ttt_linear, ttt_mlp

__all__ = ["GatedBidirectionalTTT", "Segment", "SequenceLayout", "TTTLayer", "ttt_linear", "ttt_mlp"]
__version__ = "0.1.0"
