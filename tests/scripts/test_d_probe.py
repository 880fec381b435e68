"""scripts/d_probe.py: stage 3's discriminator alone against a model's own rollouts, judged on held-out clips."""
import importlib.util
import json
import sys
from pathlib import Path

import torch

from worldsim.config import model_preset
from worldsim.models.checkpoint import save_checkpoint
from worldsim.models.model import build_model
from worldsim.train.data import ClipBank

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("d_probe", ROOT / "scripts" / "d_probe.py")
d_probe = importlib.util.module_from_spec(spec)
spec.loader.exec_module(d_probe)


def tiny_files(tmp_path, controls=True):
    model = build_model(model_preset("tiny"), seed=0, zero_init=False)
    save_checkpoint(model, tmp_path / "model")
    gen = torch.Generator().manual_seed(0)
    tensors = {"latents": torch.randn(8, 3, 16, 4, 4, generator=gen)}
    if controls:
        tensors["controls"] = torch.randn(8, 3, 25, 4, 4, generator=gen)
    ClipBank(tensors).save(tmp_path / "bank.safetensors")
    return ["--model", str(tmp_path / "model"), "--bank", str(tmp_path / "bank.safetensors"), "--frames", "3",
            "--held-out", "4", "--batch", "2", "--steps", "4"]


def test_each_setting_reports_its_held_out_ranking_from_step_0(tmp_path, capsys):
    d_probe.probe(d_probe.parse_args(tiny_files(tmp_path) + ["--d-lr", "1e-3", "--r-lambda", "0", "10"]))
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [(r["r_lambda"], r["step"]) for r in rows] == [(0.0, 0), (0.0, 1), (0.0, 2), (0.0, 3), (0.0, 4),
                                                          (10.0, 0), (10.0, 1), (10.0, 2), (10.0, 3), (10.0, 4)]
    assert rows[0]["loss"] == rows[5]["loss"]                 # every setting starts from the same D
    for r in rows:
        assert 0 <= r["ranked_real_first"] <= 1 and set(r["by_t"]) == {"0.1", "0.3", "0.5", "0.7", "0.9"}
        assert r["step"] == 0 or r["train_loss"] > 0


def test_a_bank_without_controls_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["d_probe.py", *tiny_files(tmp_path, controls=False)])
    assert d_probe.main() == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("d_probe: ") and "lacks controls" in err and "\n" not in err
