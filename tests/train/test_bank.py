"""Clip banks from the reference world, and camera-conditioned training on them."""
import pytest
import torch

from worldsim.cli import main
from worldsim.config import model_preset, replace_generator
from worldsim.models.checkpoint import load_checkpoint, save_checkpoint
from worldsim.models.model import build_model
from worldsim.models.renderer import AaptRenderer
from worldsim.train.bank import parse_seeds
from worldsim.train.build import add_control_channels
from worldsim.train.data import ClipBank, DataError


def tiny_vae(tmp_path):
    return save_checkpoint(build_model(replace_generator(model_preset("tiny"), control_channels=0)), tmp_path / "vae")


def train_adapt(tmp_path, bank, channels: int, batch_size: int, steps: int, warp: bool = False,
                run: str = "run", keep: bool = False) -> None:
    """`worldsim train adapt` on `bank` with the tiny preset, into tmp_path/run."""
    (tmp_path / "adapt.toml").write_text(f"""
[model]
preset = "tiny"
control_channels = {channels}
recycle_warp = {str(warp).lower()}
recycle_warp_keep = {str(keep).lower()}
[data]
path = "{bank}"
batch_size = {batch_size}
[loop]
steps = {steps}
log_every = 1
out_dir = "{tmp_path / run}"
device = "cpu"
progress = false
tensorboard = false
""")
    assert main(["train", "adapt", "--config", str(tmp_path / "adapt.toml")]) == 0


def test_seed_lists_parse_and_bad_ones_are_clear():
    assert parse_seeds("0-3,7,10-11") == [0, 1, 2, 3, 7, 10, 11]
    with pytest.raises(DataError, match="0-15"):
        parse_seeds("a-b")


def test_bank_from_the_reference_world_trains_a_camera_model_that_plays(tmp_path, capsys):
    vae_ckpt = tiny_vae(tmp_path)
    pixels, bank_path = tmp_path / "pixels.safetensors", tmp_path / "bank.safetensors"
    assert main(["train", "bank", "--world-seeds", "5", "--clips-per-seed", "2", "--frames", "9",
                 "--size", "32x32", "--camera", "od", "--out", str(pixels)]) == 0
    assert "latents" not in ClipBank.load(pixels).tensors                  # pixels for stage 0
    assert main(["train", "encode", "--bank", str(pixels), "--vae", str(vae_ckpt), "--keep-video",
                 "--measure-stats", "--out", str(bank_path)]) == 0
    bank = ClipBank.load(bank_path)
    per_channel = bank.tensors["latents"].transpose(0, 2).flatten(1)          # (C, everything else)
    torch.testing.assert_close(per_channel.std(1), torch.ones(16), atol=1e-3, rtol=0)   # normalised
    assert load_checkpoint(vae_ckpt)[1]["latent_stats"]["std"] != [1.0] * 16  # stats stored for play
    t = bank.tensors
    assert t["video"].shape == (2, 3, 9, 32, 32) and t["video"].dtype == torch.uint8
    assert t["latents"].shape == (2, 3, 16, 4, 4) and t["controls"].shape == (2, 3, 25, 4, 4)
    assert t["video"].float().std() > 5                               # a rendered world, not a blank
    assert not torch.equal(t["c2w"][0], t["c2w"][1])                  # two different player walks
    assert (t["controls"][:, 0, -1] == 1).all() and (t["controls"][:, 1:, -1] == 0).all()   # first-frame flag
    assert t["controls"][:, 1:, :-1].abs().max() > 0                  # the camera moved
    camera = bank.info["controls"]["camera"]
    assert camera["kind"] == "od" and len(camera["scales"]) == 6 and min(camera["scales"]) > 1e-3
    assert all(len(p) > 10 for p in bank.prompts)                     # the worlds' captions

    train_adapt(tmp_path, bank_path, channels=25, batch_size=2, steps=2)
    _, meta = load_checkpoint(tmp_path / "run" / "model")
    assert meta["controls"] == {"camera": camera}                     # play encodes as training did
    renderer = AaptRenderer(str(tmp_path / "run" / "model"), width=32, height=32, max_sessions=1)
    assert "camera" in renderer.spec.control_kinds
    strip = tmp_path / "strip.png"
    assert main(["train", "samples", "--model", str(tmp_path / "run" / "model"), "--bank", str(bank_path),
                 "--out", str(strip), "--clips", "2", "--every", "2"]) == 0
    from PIL import Image
    assert Image.open(strip).size == (5 * 32, 2 * 2 * 32)                # 5 of 9 frames; real + generated rows
    assert main(["train", "throughput", str(tmp_path / "run" / "log.jsonl"), "--skip", "0"]) == 0
    assert "clips/s" in capsys.readouterr().out

    # model.recycle_warp: the checkpoint keeps the bank's camera geometry and plays with it
    train_adapt(tmp_path, bank_path, channels=25, batch_size=2, steps=2, warp=True, run="warp")
    model, meta = load_checkpoint(tmp_path / "warp" / "model")
    assert model.cfg.generator.warp_channel == 21 and model.cfg.generator.warp_scales == tuple(camera["scales"][3:])
    renderer = AaptRenderer(str(tmp_path / "warp" / "model"), width=32, height=32, max_sessions=1)
    state = renderer.open(seed=5)
    packet = {"camera": {"c2w": t["c2w"][0, 0].tolist()}}
    renderer.step([state], [[packet]])
    frames = renderer.step([state], [[{"camera": {"c2w": c.tolist()}} for c in t["c2w"][0, 1:5]]])
    assert frames[0].shape == (4, 32, 32, 3)
    train_adapt(tmp_path, bank_path, channels=25, batch_size=2, steps=2, warp=True, run="keep", keep=True)
    model, _ = load_checkpoint(tmp_path / "keep" / "model")        # the unwarped latent too: 16 more inputs
    assert model.cfg.generator.warp_keep and model.generator.patch_embed.in_features == (3 * 16 + 25 + 1) * 1


def test_adding_control_channels_keeps_the_model_where_controls_are_zero():
    model = build_model(replace_generator(model_preset("tiny"), control_channels=0), zero_init=False)
    gen = model.generator
    g = torch.Generator().manual_seed(0)
    clean, noisy = torch.randn(2, 1, 4, 16, 4, 4, generator=g)
    text = torch.randn(1, 8, gen.cfg.text_dim, generator=g)
    t = torch.full((1,), 0.5)
    with torch.no_grad():
        before = gen.forward_clip(gen.clip_inputs(noisy, clean, clean[:, :, :0]), t, text)
        add_control_channels(model, 25)
        assert model.cfg.generator.control_channels == 25 and gen.patch_embed.in_features == 2 * 16 + 25 + 1
        zeros = torch.zeros(1, 4, 25, 4, 4)
        after = gen.forward_clip(gen.clip_inputs(noisy, clean, zeros), t, text)
        moved = gen.forward_clip(gen.clip_inputs(noisy, clean, torch.ones_like(zeros)), t, text)
    torch.testing.assert_close(after, before)
    assert (moved - after).abs().max() > 1e-4                         # the new channels are live


def test_pose_bank_from_the_puppet_scene_trains_a_pose_model_that_plays(tmp_path):
    from worldsim.controls.encoding import control_channels
    out = tmp_path / "pose.safetensors"
    vae_ckpt = tiny_vae(tmp_path)
    assert main(["train", "bank", "--kind", "pose", "--world-seeds", "3", "--clips-per-seed", "1",
                 "--frames", "5", "--size", "32x32", "--vae", str(vae_ckpt), "--keep-video",
                 "--out", str(out)]) == 0
    bank = ClipBank.load(out)
    assert bank.info["controls"] == {"pose": {}}
    controls = bank.tensors["controls"]
    assert controls.shape == (1, 2, control_channels(["pose"]), 4, 4) and controls[:, 1:].abs().max() > 0
    assert bank.tensors["video"].shape == (1, 3, 5, 32, 32) and bank.tensors["video"].float().std() > 5
    train_adapt(tmp_path, out, channels=controls.shape[2], batch_size=1, steps=1)
    renderer = AaptRenderer(str(tmp_path / "run" / "model"), width=32, height=32, max_sessions=1)
    assert list(renderer.spec.control_kinds) == ["pose"]


def test_a_bank_rendered_in_worker_processes_equals_one_rendered_in_one(tmp_path):
    """`--workers 2` splits the world seeds over processes; the camera scales are still measured on
    the whole bank, so the bank is the one a single process makes."""
    from worldsim.train.bank import BankSpec, build_bank, build_bank_parallel

    spec = BankSpec(width=16, height=16, frames=5, clips_per_seed=1, camera="od")
    one = build_bank([0, 1, 2], spec)
    split = build_bank_parallel([0, 1, 2], spec, workers=2, scratch=str(tmp_path / "parts"))
    assert split.prompts == one.prompts and split.info == one.info
    for key in ("video", "c2w", "controls"):
        assert torch.equal(split.tensors[key], one.tensors[key]), key
    assert not list((tmp_path / "parts").iterdir())           # the parts are removed once merged


@pytest.mark.parametrize("dtype", ["float16", "int8"])
def test_encode_takes_a_shipped_checkpoint_as_its_vae(tmp_path, dtype):
    """A shipped checkpoint (float16 / int8 shards, like worldsim/assets/default) encodes a bank as
    its float32 original does."""
    from worldsim.models.shipped import save_shipped
    model = build_model(replace_generator(model_preset("tiny"), control_channels=0), seed=3)
    save_shipped(model, tmp_path / "ship", dtype=dtype)
    video = torch.randint(0, 256, (2, 3, 5, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    ClipBank({"video": video}, ["a", "b"]).save(tmp_path / "px.safetensors")
    for name, vae in (("ship", tmp_path / "ship"), ("float", save_checkpoint(model, tmp_path / "float_ckpt"))):
        assert main(["train", "encode", "--bank", str(tmp_path / "px.safetensors"), "--vae", str(vae),
                     "--out", str(tmp_path / f"{name}.safetensors")]) == 0
    shipped, original = (ClipBank.load(tmp_path / f"{n}.safetensors").tensors["latents"] for n in ("ship", "float"))
    assert shipped.shape == original.shape == (2, 2, 16, 4, 4) and shipped.dtype == torch.float32
    torch.testing.assert_close(shipped, original, atol=0.1, rtol=0.1)


def test_a_bank_takes_its_camera_encoding_from_a_checkpoint(tmp_path):
    """`--camera-from CHECKPOINT`: a model that goes on training gets clips encoded as it was trained."""
    camera = {"kind": "od", "fovy_deg": 60.0, "scales": [0.11, 0.22, 0.33, 0.3, 0.3, 0.9]}
    ckpt = save_checkpoint(build_model(replace_generator(model_preset("tiny"), control_channels=25)),
                           tmp_path / "ckpt", controls={"camera": camera})
    out = tmp_path / "px.safetensors"
    assert main(["train", "bank", "--world-seeds", "5", "--clips-per-seed", "1", "--frames", "5", "--size", "32x32",
                 "--camera-from", str(ckpt), "--out", str(out)]) == 0
    assert ClipBank.load(out).info["controls"]["camera"]["scales"] == camera["scales"]
    assert main(["train", "bank", "--world-seeds", "5", "--frames", "5", "--size", "32x32",
                 "--camera-from", str(tmp_path / "vae"), "--out", str(out)]) != 0      # no checkpoint there
