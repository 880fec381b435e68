"""worldsim-ttt: TTT layers (TTT-Linear, TTT-MLP), gated bidirectional block, Triton scan kernels."""
