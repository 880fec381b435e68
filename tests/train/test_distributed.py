"""torchrun + FSDP2 on CPU: two gloo processes (about 20 s; the work is in distributed_worker.py)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from worldsim.models.checkpoint import load_checkpoint


@pytest.mark.skipif(sys.platform != "linux", reason="torchrun with gloo on this platform")
def test_two_process_fsdp_matches_one_process_and_every_sharded_stage_runs(tmp_path, tiny_bank):
    tiny_bank().save(tmp_path / "clips.safetensors")
    config = tmp_path / "adapt.toml"
    config.write_text(f"""
[model]
preset = "tiny"
[data]
path = "{tmp_path / 'clips.safetensors'}"
batch_size = 2
[optim]
warmup_steps = 0
[loop]
steps = 4
checkpoint_every = 2
out_dir = "{tmp_path / 'run'}"
log_every = 1
device = "cpu"
progress = false
tensorboard = false
[adapt]
own_passes = 1        # own predictions on some steps, through the sharded model
own_fraction = 0.5
""")
    adversarial = []
    for long_frames in (0, 9):
        path = tmp_path / f"adversarial_{long_frames}.toml"
        path.write_text(config.read_text().split("[adapt]")[0].replace("steps = 4", "steps = 1").replace(
            '/run"', f'/adv_{long_frames}"') + f"[adversarial]\nlong_frames = {long_frames}\nr_lambda = 1.0\n")
        adversarial.append(str(path))
    worker = Path(__file__).with_name("distributed_worker.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[2])}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                           "--standalone", str(worker), str(config), *adversarial],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "adapt: 2 steps this run on 2 process(es)" in proc.stdout      # the resumed run: steps 5, 6
    steps = [json.loads(x)["step"] for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]
    model, meta = load_checkpoint(tmp_path / "run" / "model")
    assert meta["trained_by"] == "worldsim train adapt" and model.cfg.name == "tiny"
    for long_frames, segments in ((0, None), (9, 2)):                  # stage 3, sharded G and D
        record = json.loads((tmp_path / f"adv_{long_frames}" / "log.jsonl").read_text().splitlines()[-1])
        assert record["step"] == 1 and record.get("segments") == segments
        assert load_checkpoint(tmp_path / f"adv_{long_frames}" / "model")[1]["trained_by"] == "worldsim train adversarial"


@pytest.mark.skipif(sys.platform != "linux", reason="torchrun with gloo on this platform")
def test_one_process_torchrun_trains_through_fsdp_and_plain_python_does_not(tmp_path):
    # the 1-GPU baseline of a scaling measurement runs the same sharded path as 2 GPUs
    script = tmp_path / "one.py"
    script.write_text("from worldsim.train.config import TrainConfig\n"
                      "from worldsim.train.distributed import init_distributed\n"
                      "from worldsim.train.loop import StepContext\n"
                      "rank, world = init_distributed()\n"
                      "print('context', rank, world, StepContext.from_config(TrainConfig()).sharded)\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[2])}
    launched = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=1", "--standalone",
                               str(script)], capture_output=True, text=True, timeout=60, env=env)
    assert "context 0 1 True" in launched.stdout, launched.stdout[-2000:] + launched.stderr[-2000:]
    for name in ("LOCAL_RANK", "TORCHELASTIC_RUN_ID"):
        env.pop(name, None)
    plain = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env)
    assert "context 0 1 False" in plain.stdout, plain.stderr[-2000:]
