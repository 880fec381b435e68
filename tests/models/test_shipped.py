"""The shipped format (worldsim/models/shipped.py): shards, float16 and int8 round trips, clear errors."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from worldsim.config import model_preset
from worldsim.models.checkpoint import CheckpointError, load_checkpoint
from worldsim.models.model import build_model
from worldsim.models.shipped import SCALE_SUFFIX, dequantize_int8, quantize_int8, save_shipped

CONTROLS = {"camera": {"kind": "od", "fovy_deg": 60.0, "scales": [0.5, 0.5, 0.5, 1.0, 1.0, 1.0]}}


@pytest.fixture(scope="module")
def model():
    m = build_model(model_preset("tiny"), seed=3, zero_init=False)
    m.vae.set_latent_stats(torch.linspace(-1, 1, 16), torch.linspace(0.5, 2, 16))
    return m


def ship(model, path, dtype="int8", shard_bytes=64 * 2**10):
    return save_shipped(model, path, dtype=dtype, shard_bytes=shard_bytes, controls=CONTROLS,
                        extra={"trained_clip_frames": 5})


def kept(model):
    return {k: v for k, v in model.state_dict().items() if not k.startswith("vae.decoder.")}


def test_quantize_error_is_half_a_step_per_channel():
    w = torch.randn(64, 48) * torch.logspace(-3, 1, 64)[:, None]           # channels of very different sizes
    w[5] = 0                                                               # an all-zero channel
    q, scale = quantize_int8(w)
    assert q.dtype == torch.int8 and scale.dtype == torch.float16 and scale.shape == (64,)
    err = (dequantize_int8(q, scale) - w).abs().amax(dim=1)
    assert torch.all(err <= scale.float() / 2 + 1e-7)
    assert torch.all(err <= w.abs().amax(dim=1) / 254 * 1.01 + 1e-7)      # relative to each channel's range
    assert torch.equal(dequantize_int8(q, scale)[5], torch.zeros(48))
    conv = torch.randn(8, 4, 3, 3)
    q, scale = quantize_int8(conv)
    assert q.shape == conv.shape and torch.allclose(dequantize_int8(q, scale), conv, atol=conv.abs().max() / 200)


@pytest.mark.parametrize("dtype", ["float16", "int8"])
def test_shipped_round_trip(tmp_path, model, dtype):
    path = ship(model, tmp_path / dtype, dtype)
    meta = json.loads((path / "config.json").read_text())
    assert meta["dtype"] == dtype and meta["omitted"] == ["vae.decoder."] and meta["trained_clip_frames"] == 5
    assert len(meta["weights"]) > 1 and all((path / n).stat().st_size <= 64 * 2**10 + 4096 for n in meta["weights"])
    assert not (path / "model.safetensors").exists()
    stored = {k: v for n in meta["weights"] for k, v in load_file(str(path / n)).items()}
    if dtype == "int8":
        assert all(v.dtype == torch.int8 for k, v in stored.items() if v.dim() >= 2)
        assert all(v.dtype in (torch.int8, torch.float16) or not v.is_floating_point() for v in stored.values())
        assert all(k[:-len(SCALE_SUFFIX)] in stored for k in stored if k.endswith(SCALE_SUFFIX))
    loaded, _ = load_checkpoint(path, dtype=torch.float32)
    ref, got = kept(model), loaded.state_dict()
    for k, v in ref.items():
        tol = (v.float().abs().reshape(v.shape[0], -1).amax(1).max() / 127 if dtype == "int8" and v.dim() >= 2
               else v.float().abs().max() / 1000) + 1e-6
        assert (got[k].float() - v.float()).abs().max() <= tol, k
        assert got[k].dtype == torch.float32 or not v.is_floating_point()
    assert not any(p.is_meta for p in loaded.parameters())


def test_reship_replaces_old_shards(tmp_path, model):
    path = ship(model, tmp_path / "s", "float16", shard_bytes=32 * 2**10)
    many = len(list(path.glob("model-*.safetensors")))
    ship(model, path, "int8", shard_bytes=2**20)
    assert len(list(path.glob("model-*.safetensors"))) == 1 < many
    load_checkpoint(path)


def _one_line(err) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


def test_truncated_shard(tmp_path, model):
    path = ship(model, tmp_path / "s")
    shard = path / "model-00002.safetensors"
    shard.write_bytes(shard.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="model-00002.safetensors is not a readable safetensors file") as err:
        load_checkpoint(path)
    assert "truncated" in _one_line(err)


def test_shard_listed_but_absent(tmp_path, model):
    path = ship(model, tmp_path / "s")
    (path / "model-00002.safetensors").unlink()
    with pytest.raises(CheckpointError, match="incomplete: missing model-00002.safetensors") as err:
        load_checkpoint(path)
    _one_line(err)


def _rewrite_shard(path, edit):
    shard = path / "model-00001.safetensors"
    tensors = load_file(str(shard))
    edit(tensors)
    save_file(tensors, str(shard))


def test_shard_with_missing_key_or_wrong_shape(tmp_path, model):
    path = ship(model, tmp_path / "missing", "float16")
    first = next(iter(load_file(str(path / "model-00001.safetensors"))))
    _rewrite_shard(path, lambda t: t.pop(first))
    with pytest.raises(CheckpointError, match=f"does not match the model in config.json.*missing: {first}") as err:
        load_checkpoint(path)
    _one_line(err)
    path = ship(model, tmp_path / "shape", "float16")
    _rewrite_shard(path, lambda t: t.update({first: torch.zeros(3, 1, 2, dtype=torch.float16)}))
    with pytest.raises(CheckpointError, match=f"wrong shape: {first} \\(3, 1, 2\\)") as err:
        load_checkpoint(path)
    _one_line(err)


def test_int8_scale_that_does_not_fit(tmp_path, model):
    path = ship(model, tmp_path / "s")
    key = next(k for k in load_file(str(path / "model-00001.safetensors")) if k.endswith(SCALE_SUFFIX))
    _rewrite_shard(path, lambda t: t.update({key: torch.ones(1000, dtype=torch.float16)}))
    with pytest.raises(CheckpointError, match="int8 scale .* does not fit") as err:
        load_checkpoint(path)
    _one_line(err)
    path = ship(model, tmp_path / "t")
    _rewrite_shard(path, lambda t: t.pop(key))
    with pytest.raises(CheckpointError, match="int8 tensors without a .int8_scale") as err:
        load_checkpoint(path)
    _one_line(err)


def test_train_ship_command(tmp_path, model, capsys):
    from worldsim.cli import main
    from worldsim.models.checkpoint import save_checkpoint

    save_checkpoint(model, tmp_path / "full", controls=CONTROLS, extra={"trained_clip_frames": 7, "trained_by": "t"})
    assert main(["train", "ship", "--model", str(tmp_path / "full"), "--out", str(tmp_path / "ship"),
                 "--dtype", "int8"]) == 0
    assert "int8, 1 shards" in capsys.readouterr().out
    meta = json.loads((tmp_path / "ship" / "config.json").read_text())
    assert meta["dtype"] == "int8" and meta["trained_clip_frames"] == 7 and meta["trained_by"] == "t"
    assert meta["controls"] == CONTROLS
    loaded, _ = load_checkpoint(tmp_path / "ship")
    torch.testing.assert_close(next(iter(loaded.generator.parameters())).float(),
                               next(iter(model.generator.parameters())).float(), atol=0.05, rtol=0)


def test_a_model_continued_from_a_shipped_one_still_says_it_has_no_full_decoder(tmp_path, model):
    """Training on from a shipped checkpoint (no full VAE decoder: zeros once loaded) must not save
    those zeros as weights, and sample strips decode with the light decoder instead of the zeros."""
    from worldsim.models.checkpoint import save_checkpoint
    from worldsim.train.samples import decode

    loaded, _ = load_checkpoint(ship(model, tmp_path / "ship", "float16"), dtype=torch.float32)
    assert loaded.omitted == ("vae.decoder.",)
    again, meta = load_checkpoint(save_checkpoint(loaded, tmp_path / "trained"), dtype=torch.float32)
    assert meta["omitted"] == ["vae.decoder."] and again.omitted == ("vae.decoder.",)
    assert not any(k.startswith("vae.decoder.") for k in load_file(str(tmp_path / "trained" / "model.safetensors")))
    full = save_shipped(again, tmp_path / "full", omit=())                  # the float16 "whole model"
    assert json.loads((full / "config.json").read_text())["omitted"] == ["vae.decoder."]
    latents = torch.randn(1, 2, 16, 4, 4)
    video = decode(again, latents)
    light = again.vae.decode(latents.permute(0, 2, 1, 3, 4), light=True)
    assert video.shape == (1, 5, 32, 32, 3) and video.std() > 0            # not the zero decoder's flat grey
    assert torch.equal(torch.from_numpy(video), ((light.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 4, 1))
    assert model.omitted == () and build_model(model_preset("tiny"), seed=0).omitted == ()
