"""worldsim.train: the AAPT training pipeline (docs/train.md).

config.py       typed TOML configs (TrainConfig and its sections)
data.py         clip banks and their seeded, resumable (and rank-sharded) reader
bank.py         clip banks from the reference world: player walks, renders, latents, camera controls
loop.py         the shared loop: resume, step, log (JSONL, TensorBoard), checkpoint, sample strips
checkpoint.py   atomic training checkpoints for exact resume
build.py        the model a stage trains (preset or checkpoint, control channels added) and its export
distributed.py  activation checkpointing, FSDP2 sharding, torchrun set-up (beside the model)
vae.py base.py adapt.py distill.py adversarial.py   the stages: each supplies only its step
long_video.py   stage 3 in segments with the KV cache detached between them
samples.py      PNG strips of a model's rollouts beside validation clips
commands.py     `worldsim train <stage> --config FILE`, `worldsim train bank | encode | samples | throughput`
__main__.py     `python -m worldsim.train ...`: the same commands without the rest of the CLI
"""
