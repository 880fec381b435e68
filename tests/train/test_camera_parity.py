"""The same camera in training and in play: a clip bank's camera `controls` are the channels the
aapt renderer makes from the packets a client sends for the same walk.

What the controls carry, and what they do not: packets come from the client's CameraRig, which
knows no terrain, so a walking camera's height is the eye height (1.7) all along. The bank's
walks are rendered over the terrain (its `c2w` climb and dip with the hills: the small vertical
bob is in the pixels), but its controls are encoded from packets at the eye height, as play's
are: play cannot know the ground of a generated world (docs/train.md, "Data: clip banks").

The bank keeps its walks' poses (`c2w`, world coordinates hundreds of metres from the origin) in
float64, the rig's own, and encodes its controls from those, as a client sends float64 poses: the
two encodings agree to float32 rounding in every channel. (Poses rounded to float32 at ~1 km move
by ~6e-5 m, which the translation channels' small scales turn into ~1e-3.)
"""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from worldsim.cli import main
from worldsim.config import model_preset, replace_generator
from worldsim.controls.actions import sample_step
from worldsim.controls.packets import PacketBuilder
from worldsim.controls.script import ScriptedInput
from worldsim.models.checkpoint import save_checkpoint
from worldsim.models.model import build_model
from worldsim.models.renderer import AaptRenderer
from worldsim.train.bank import BankSpec, walk_packets
from worldsim.train.data import ClipBank
from worldsim.worlds.player import Player
from worldsim.worlds.world import build_world

WORLD, CLIPS, FRAMES = 6, 2, 9       # world 6's first two walks both walk and turn, over uneven ground
TRANSLATION = [c for f in range(4) for c in range(6 * f, 6 * f + 3)]       # the o channels of od
DIRECTION = [c for c in range(25) if c not in TRANSLATION]                 # d channels and the flag


@pytest.fixture(scope="module")
def walks(tmp_path_factory):
    """A bank of world 6's first walks (`worldsim train bank --camera od`), a random tiny model
    saved with the bank's camera encoding, its renderer, and each walk's input script."""
    tmp = tmp_path_factory.mktemp("parity")
    path = tmp / "bank.safetensors"
    assert main(["train", "bank", "--world-seeds", str(WORLD), "--clips-per-seed", str(CLIPS), "--frames",
                 str(FRAMES), "--size", "32x32", "--camera", "od", "--out", str(path)]) == 0
    bank = ClipBank.load(path)
    assert bank.info["dropped"] == 0 and bank.tensors["controls"].shape == (CLIPS, 3, 25, 4, 4)
    assert bank.tensors["c2w"].dtype == torch.float64 and np.abs(bank.tensors["c2w"][..., :3, 3].numpy()).max() > 100
    camera = bank.info["controls"]["camera"]
    assert camera["kind"] == "od" and camera["fovy_deg"] == 60.0        # the fovy worlds.dataset renders with
    model = build_model(replace_generator(model_preset("tiny"), control_channels=25))
    ckpt = save_checkpoint(model, tmp / "model", controls={"camera": camera})
    renderer = AaptRenderer(str(ckpt), width=32, height=32, max_sessions=1, start="noise")
    world = build_world(WORLD)
    clips = []
    for index in range(CLIPS):
        # the walk's own inputs, regenerated: the player seed, plan and start worldsim.worlds.dataset uses
        player = WORLD * 100_003 + index
        script = tmp / f"walk{index}.toml"
        ScriptedInput(Player(player).plan(FRAMES).segments, {}, FRAMES).save(script)
        clips.append(SimpleNamespace(script=script, start=world.spawn_point(player), yaw=float(player * 47 % 360),
                                     c2w=bank.tensors["c2w"][index].numpy(),
                                     controls=bank.tensors["controls"][index]))
    return SimpleNamespace(bank=bank, camera=camera, renderer=renderer, world=world, clips=clips)


def client_packets(renderer: AaptRenderer, script, **start) -> list[list[dict]]:
    """The packets of a client playing `script` (`worldsim play --input-script`): one PacketBuilder
    with play's rig options, ticked once per video frame, grouped by the renderer's steps."""
    script = ScriptedInput.load(script)
    packets = PacketBuilder(["camera"], fps=renderer.spec.fps, mode="walk", **start)
    steps, left = [], script.length
    while left:
        n = renderer.spec.frames_for_step(len(steps))
        steps.append([packets.tick(a) for a in sample_step(script, n)])
        left -= n
    return steps


def play(renderer: AaptRenderer, steps: list[list[dict]]) -> torch.Tensor:
    """Step a fresh session through `steps`; the controls its encoders made: (1+k, 25, h, w)."""
    session = renderer.open(seed=WORLD)
    encode, made = session.encoders.encode, []
    session.encoders.encode = lambda group: made.append(encode(group)) or made[-1]
    for group in steps:
        renderer.step([session], [group])
    renderer.close(session)
    return torch.stack(made)


def test_a_bank_walk_and_the_same_walk_played_make_the_same_camera_controls(walks):
    renderer = walks.renderer
    for clip in walks.clips:
        # a client started where the walk starts: its poses are the walk's, at the eye height
        there = client_packets(renderer, clip.script, position=(clip.start[0], 0.0, clip.start[1]), yaw=clip.yaw)
        poses = np.array([p["camera"]["c2w"] for g in there for p in g]).reshape(-1, 4, 4)
        height = BankSpec().eye_height
        assert (poses[:, 1, 3] == 1.7).all() and height == 1.7              # the rig's eye height, no terrain
        bank_packets = np.array([p["camera"]["c2w"] for p in walk_packets(clip.c2w, height)]).reshape(-1, 4, 4)
        np.testing.assert_array_equal(poses, bank_packets)                 # float64, bit for bit
        terrain = walks.world.terrain
        ground = np.array([terrain.ground_height(float(x), float(z)) for x, z in clip.c2w[:, [0, 2], 3]])
        np.testing.assert_allclose(clip.c2w[:, 1, 3], ground + 1.7, rtol=0, atol=1e-4)   # the rendered camera
        assert np.ptp(clip.c2w[:, 1, 3]) > 0.01                             # bobs over the ground ...
        assert np.abs(clip.c2w[-1, [0, 2], 3] - clip.c2w[0, [0, 2], 3]).max() > 0.5   # ... as it walks
        assert clip.controls[1:, :-1].abs().max() > 0.1                    # and the controls move

        # play's encoding of the client's packets is the bank's: from the walk's start, and from
        # where `worldsim play` starts a client (origin, yaw 0; the encoding is relative)
        home = client_packets(renderer, clip.script)
        for steps in (there, home):
            played = play(renderer, steps)
            torch.testing.assert_close(played[:, DIRECTION], clip.controls[:, DIRECTION], rtol=1e-6, atol=1e-6)
            torch.testing.assert_close(played[:, TRANSLATION], clip.controls[:, TRANSLATION], rtol=1e-6, atol=1e-6)

        # the bob is not in the controls: encoding the rendered poses (with the ground) differs
        rendered = [[{"camera": {"c2w": m.reshape(-1).tolist()}} for m in clip.c2w[:1]]] + \
                   [[{"camera": {"c2w": m.reshape(-1).tolist()}} for m in clip.c2w[1 + 4 * k:5 + 4 * k]]
                    for k in range((FRAMES - 1) // 4)]
        assert (play(renderer, rendered) - clip.controls).abs().max() > 1e-2      # ~0.05 to 0.2 here


def test_bank_translation_controls_equal_play(walks):
    clip = walks.clips[1]
    played = play(walks.renderer, client_packets(walks.renderer, clip.script))
    torch.testing.assert_close(played, clip.controls, rtol=1e-6, atol=1e-6)
