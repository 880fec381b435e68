"""Checkpoints: exact save -> load round trip, and clear errors for broken folders."""
from __future__ import annotations

import json

import pytest
import torch

from worldsim.config import model_preset
from worldsim.models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from worldsim.models.model import build_model

CONTROLS = {"camera": {"kind": "od", "fovy_deg": 60.0, "scales": [0.5, 0.5, 0.5, 1.0, 1.0, 1.0]}}


@pytest.fixture()
def saved(tmp_path):
    model = build_model(model_preset("tiny"), seed=3, zero_init=False)
    model.vae.set_latent_stats(torch.linspace(-1, 1, 16), torch.linspace(0.5, 2, 16))
    return model, save_checkpoint(model, tmp_path / "ckpt", controls=CONTROLS)


def test_save_load_round_trip_is_exact(saved):
    model, path = saved
    loaded, meta = load_checkpoint(path)
    assert meta["controls"] == CONTROLS and meta["preset"] == "tiny" and meta["window"] == 3
    assert loaded.cfg == model.cfg
    ref, got = model.state_dict(), loaded.state_dict()
    assert ref.keys() == got.keys()
    assert all(torch.equal(ref[k], got[k]) for k in ref)
    assert torch.equal(loaded.vae.latent_mean, model.vae.latent_mean)
    assert torch.equal(loaded.vae.latent_std, model.vae.latent_std)
    text = loaded.text_encoder(["a snowy forest"])
    torch.testing.assert_close(text, model.text_encoder(["a snowy forest"]), rtol=0, atol=0)
    assert not any(p.is_meta for p in loaded.parameters())


def test_missing_folder_or_file(tmp_path, saved):
    with pytest.raises(CheckpointError, match="expected a folder with config.json and model.safetensors"):
        load_checkpoint(tmp_path / "nope")
    _, path = saved
    (path / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="incomplete: missing model.safetensors"):
        load_checkpoint(path)


def test_corrupt_files(saved):
    _, path = saved
    weights = path / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(path)
    (path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(path)


def test_config_that_does_not_match_the_weights(saved):
    _, path = saved
    meta = json.loads((path / "config.json").read_text())
    meta["model"]["generator"]["depth"] = 3
    meta["model"]["generator"]["dim"] = 64
    (path / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="does not match the model.*missing: generator.blocks.2"):
        load_checkpoint(path)
    meta["latent_stats"]["std"][0] = -1.0
    (path / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="std must be positive"):
        load_checkpoint(path)
