"""Malformed checkpoints give one clear error (CheckpointError), in-process and when a worker starts."""
from __future__ import annotations

import json

import pytest
import torch

from worldsim.config import model_preset
from worldsim.models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from worldsim.models.model import build_model


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    model = build_model(model_preset("tiny"), seed=3, zero_init=False)
    model.vae.set_latent_stats(torch.zeros(16), torch.ones(16))
    return save_checkpoint(model, tmp_path_factory.mktemp("ckpt") / "ckpt")


def _with_config(saved, tmp_path, edit) -> str:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "model.safetensors").symlink_to(saved / "model.safetensors")
    meta = json.loads((saved / "config.json").read_text())
    text = edit(meta)
    (folder / "config.json").write_text(text if isinstance(text, str) else json.dumps(meta))
    return str(folder)


@pytest.mark.parametrize("edit, fragment", [
    (lambda m: "[" * 100_000 + "]" * 100_000, "not valid JSON"),
    (lambda m: m.update(latent_stats=[1, 2]), "latent_stats"),
    (lambda m: m.update(model="tiny"), "`model` must be a JSON object"),
    (lambda m: m["model"].update(vae=[16]), "model.vae"),
    (lambda m: m["model"]["vae"].update(latent_channels="16"), "latent_channels"),
    (lambda m: m["latent_stats"].update(mean=[10 ** 400] * 16), "finite numbers"),
    (lambda m: m["latent_stats"].update(std=[]), "finite numbers"),
    (lambda m: m.update(controls="camera"), "`controls` must be a JSON object"),
    (lambda m: m["model"].update(generator="big"), "bad model config"),
])
def test_malformed_config_json_is_a_checkpoint_error(saved, tmp_path, edit, fragment):
    path = _with_config(saved, tmp_path, edit)
    with pytest.raises(CheckpointError, match=fragment):
        load_checkpoint(path)


def test_a_worker_with_a_truncated_checkpoint_fails_to_start_with_one_clear_line(saved, tmp_path):
    from worldsim.runtime.process import WorkerProcess, WorkerStartError
    folder = tmp_path / "cut"
    folder.mkdir()
    (folder / "config.json").write_text((saved / "config.json").read_text())
    data = (saved / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 3])
    with pytest.raises(WorkerStartError, match="corrupt or truncated") as err:
        WorkerProcess(["aapt"], {"checkpoint": str(folder), "device": "cpu"}, ready_timeout=120).start()
    assert "Traceback" not in str(err.value)
