"""worldsim.worlds: the reference world (docs/reference-world.md).

world.py (seed -> terrain, objects, sky, shadows) · raymarch.py (batched renderer: march.py,
culling.py, primitives.py; compiled.py fuses the kernels) · renderer.py (the `reference` backend)
· player.py, captions.py (stochastic players through the real rigs) · puppet.py (pose scene)
· dataset.py, shards.py (clip streams, lossless shards) · commands.py (`worldsim world ...`).
"""
