"""worldsim.train: the AAPT training pipeline (docs/training.md, DESIGN §9).

config.py       typed TOML configs (TrainConfig and its sections)
data.py         clip banks and their seeded, resumable reader
loop.py         the shared loop: resume, step, log (JSONL, TensorBoard), checkpoint
checkpoint.py   atomic training checkpoints for exact resume
build.py        the model a stage trains (preset or checkpoint) and its export
distributed.py  activation checkpointing, FSDP2 sharding, torchrun set-up (beside the model)
vae.py adapt.py distill.py adversarial.py   the stages: each supplies only its step
commands.py     `worldsim train <stage> --config FILE`
"""
