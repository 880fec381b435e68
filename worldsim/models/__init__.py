"""worldsim.models: the AAPT neural renderer (see docs/model.md).

generator.py   the block-causal DiT: start / step against the KV cache, forward_clip for training
attention.py   attention backends (sdpa, flex, flash) and the whole-clip mask layout
context.py     attention contexts: what a block's video queries see in each kind of forward
segment.py     long-video segments against a detached cache snapshot
parallel.py    sequence parallelism (Ulysses) over the GPUs of one host, beside the generator
kv_cache.py    the static per-layer cache: sinks + a ring of N frames
rope.py        3D RoPE with spatial stretching and float64 angle reduction
vae.py         the causal 3D VAE and its StreamingDecoder
text.py        text encoders (the byte-level default)
model.py       AaptModel and fast construction on a device
checkpoint.py  safetensors + JSON checkpoints
renderer.py    the `aapt` Renderer
"""
