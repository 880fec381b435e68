"""The shipped models play: the embedded default through a real worker, --split, --image, --model,
and the warning for positions a model was not trained on."""
from __future__ import annotations

import json

import numpy as np
import pytest

from worldsim.errors import WorldsimUserError
from worldsim.runtime.play import ASSETS, EMBEDDED_CHECKPOINT, PlayOptions, load_image, play, resolve_renderer
from worldsim.runtime.registry import create_renderer


def psnr(a, b) -> float:
    mse = ((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2).mean()
    return 10 * np.log10(255 ** 2 / max(mse, 1e-9))


@pytest.mark.parametrize("name", ["default", "pose"])
def test_shipped_models_are_small_int8_shards(name):
    meta = json.loads((ASSETS / name / "config.json").read_text())
    sizes = [(ASSETS / name / f).stat().st_size for f in meta["weights"]]
    assert meta["dtype"] == "int8" and meta["omitted"] == ["vae.decoder."] and meta["trained_clip_frames"] >= 17
    assert max(sizes) <= 15 * 2**20 and sum(sizes) <= 24 * 2**20


def test_embedded_default_plays_through_a_worker(tmp_path):
    stats = tmp_path / "stats.json"
    summary = play(PlayOptions(headless=True, ticks=12, realtime=False, stats=str(stats),
                               screenshot=str(tmp_path / "last.png")))
    assert summary["renderer"] == "aapt" and summary["size"] == [128, 128]
    assert summary["frames_shown"] + summary["frames_dropped"] >= 9
    assert (tmp_path / "last.png").stat().st_size > 0


@pytest.fixture(scope="module")
def split():
    return create_renderer("split", checkpoint=str(EMBEDDED_CHECKPOINT))


def _first_packet():
    from worldsim.controls import PacketBuilder
    return PacketBuilder(["camera"], fps=24.0).tick({})


def test_split_starts_both_worlds_from_the_reference_frame(split):
    assert split.spec.name == "reference | aapt" and (split.spec.width, split.spec.height) == (256, 128)
    state = split.open(4, controls=["camera"])
    (first,) = split.step([state], [[_first_packet()]])
    assert first.shape == (1, 128, 256, 3)
    reference, model = first[0, :, :128], first[0, :, 128:]
    assert psnr(reference, model) > 18            # the model's frame 0 is the reference's, through the VAE
    np.testing.assert_array_equal(reference, split.right.reference_frame(4))
    frames = split.step([state], [[_first_packet()] * 4])[0]
    assert frames.shape == (4, 128, 256, 3)
    split.close(state)


def test_image_is_cropped_and_resized(tmp_path):
    from PIL import Image
    picture = np.zeros((100, 300, 3), np.uint8)
    picture[:, :100] = (255, 0, 0)                 # red | green | blue thirds: the centre crop is green
    picture[:, 100:200] = (0, 255, 0)
    picture[:, 200:] = (0, 0, 255)
    Image.fromarray(picture).save(tmp_path / "p.png")
    out = load_image(str(tmp_path / "p.png"), 64, 64)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    assert np.abs(out[:, 4:-4].astype(int) - (0, 255, 0)).max() <= 2


def test_image_errors_are_one_line(tmp_path, monkeypatch):
    with pytest.raises(WorldsimUserError, match="no such file"):
        load_image(str(tmp_path / "missing.png"), 64, 64)
    (tmp_path / "bad.png").write_bytes(b"not a picture")
    with pytest.raises(WorldsimUserError, match="not a readable image"):
        load_image(str(tmp_path / "bad.png"), 64, 64)
    monkeypatch.setitem(__import__("sys").modules, "PIL", None)        # a play-only install
    with pytest.raises(WorldsimUserError, match="needs pillow.*pip install pillow"):
        load_image(str(tmp_path / "bad.png"), 64, 64)


def test_play_starts_from_the_image(tmp_path, split):
    from PIL import Image
    picture = np.ascontiguousarray(split.right.reference_frame(9)[:, ::-1])     # a world picture, mirrored
    Image.fromarray(picture).save(tmp_path / "p.png")
    play(PlayOptions(in_process=True, headless=True, ticks=1, realtime=False, image=str(tmp_path / "p.png"),
                     screenshot=str(tmp_path / "shot.png"), window=(512, 512)))
    shot = Image.open(tmp_path / "shot.png").convert("RGB").resize((128, 128), Image.Resampling.BOX)
    shown = np.asarray(shot)[48:]                                                # below the HUD
    assert psnr(shown, picture[48:]) > 18 and psnr(shown, picture[48:]) > psnr(shown, picture[48:, ::-1]) + 3


def test_resolve_renderer():
    assert resolve_renderer(PlayOptions(model="pose")) == ("aapt", {"checkpoint": str(ASSETS / "pose")})
    name, options = resolve_renderer(PlayOptions(split=True))
    assert name == "split" and options == {"left": "reference", "right": "aapt", "checkpoint": str(EMBEDDED_CHECKPOINT)}
    # a preset asked for is that preset (random weights), not the embedded model in its place
    assert resolve_renderer(PlayOptions(renderer="aapt", renderer_options={"preset": "tiny"})) == ("aapt", {"preset": "tiny"})
    with pytest.raises(WorldsimUserError, match="no shipped model 'nope'"):
        resolve_renderer(PlayOptions(model="nope"))
    with pytest.raises(WorldsimUserError, match="give one"):
        resolve_renderer(PlayOptions(model="pose", renderer_options={"checkpoint": "x"}))
    with pytest.raises(WorldsimUserError, match="--split shows the reference world beside"):
        resolve_renderer(PlayOptions(split=True, renderer="reference"))


def test_pose_model_plays_with_pose_controls():
    r = create_renderer("aapt", checkpoint=str(ASSETS / "pose"))
    assert list(r.spec.control_kinds) == ["pose"]
    state = r.open(2, controls=["pose"])
    from worldsim.controls import PacketBuilder
    packets = PacketBuilder(["pose"], fps=24.0, width=128, height=128)
    first = r.step([state], [[packets.tick({})]])[0]
    from worldsim.worlds.dataset import pose_clip
    assert psnr(first[0], pose_clip(2, frames=1).frames[0].numpy()) > 18     # starts in the puppet scene
    assert r.step([state], [[packets.tick({"move_forward": 1.0}) for _ in range(4)]])[0].shape == (4, 128, 128, 3)


def test_untrained_positions_warn_once(tmp_path, capsys):
    from worldsim.config import model_preset
    from worldsim.models.checkpoint import save_checkpoint
    from worldsim.models.model import build_model
    controls = {"camera": {"kind": "od"}}
    from worldsim.config import replace_generator
    from worldsim.controls.encoding import control_channels
    cfg = replace_generator(model_preset("tiny"), control_channels=control_channels(["camera"], controls))
    save_checkpoint(build_model(cfg), tmp_path / "ck", controls=controls, extra={"trained_clip_frames": 2})
    r = create_renderer("aapt", checkpoint=str(tmp_path / "ck"), start="noise")
    assert "positions beyond 2 latent frames" in r.spec.info["warning"]
    state = r.open(0, controls=["camera"])
    r.step([state], [[_first_packet()]])
    for _ in range(4):
        r.step([state], [[_first_packet()] * 4])
    err = capsys.readouterr().err
    assert err.count("untrained") == 1 and len(err.strip().splitlines()) == 1
    save_checkpoint(build_model(cfg), tmp_path / "ok", controls=controls, extra={"trained_clip_frames": 4})
    assert "warning" not in create_renderer("aapt", checkpoint=str(tmp_path / "ok")).spec.info   # window 3 + 1
