"""Clip banks from your own frames and camera poses: `ClipBank.from_frames` and `worldsim train bank
--from-dir` encode the camera exactly as the reference bank does, and wrong input is one line."""
import numpy as np
import pytest
import torch

from worldsim.cli import main
from worldsim.train.bank import BankSpec, build_bank
from worldsim.train.data import ClipBank, DataError


@pytest.fixture(scope="module")
def reference():
    """A reference-world bank (2 walks of 9 frames, 32x32, od controls) to compare against."""
    return build_bank([5], BankSpec(width=32, height=32, frames=9, clips_per_seed=2, camera="od"))


def frames_and_poses(bank: ClipBank) -> tuple[np.ndarray, np.ndarray]:
    """The bank's clips as an engine gives them: (N, T, H, W, 3) uint8 and the packets' poses."""
    c2w = bank.tensors["c2w"].double().numpy().copy()
    c2w[..., 1, 3] = 1.7                                  # the walk's packets keep the eye height
    return bank.tensors["video"].permute(0, 2, 3, 4, 1).numpy(), c2w


def test_from_frames_encodes_the_camera_as_the_reference_bank(reference):
    video, c2w = frames_and_poses(reference)
    bank = ClipBank.from_frames(video, c2w, fovy_deg=60.0, camera="od", prompts=reference.prompts)
    assert bank.info["controls"] == reference.info["controls"]           # same kind, fovy, measured scales
    torch.testing.assert_close(bank.tensors["controls"], reference.tensors["controls"], rtol=0, atol=0)
    assert torch.equal(bank.tensors["video"], reference.tensors["video"])
    listed = ClipBank.from_frames(list(video), torch.as_tensor(c2w), camera="od")      # a list, torch poses
    assert torch.equal(listed.tensors["controls"], bank.tensors["controls"])
    plain = ClipBank.from_frames(video, c2w, camera=None)
    assert "controls" not in plain.tensors and plain.info["controls"] == {}
    reused = ClipBank.from_frames(video[:1], c2w[:1], camera="od", scales=[1.0] * 6)    # a validation bank
    assert reused.info["controls"]["camera"]["scales"] == [1.0] * 6


@pytest.mark.parametrize("change,message", [
    (lambda v, p: (v[:, :8], p[:, :8]), "1 + 4k frames"),
    (lambda v, p: (v.astype(np.float32), p), "must be uint8"),
    (lambda v, p: (v[..., :2], p), "(N, T, H, W, 3)"),
    (lambda v, p: (v[:, :, :28], p), "multiples of 8"),
    (lambda v, p: (v, p[:, :5]), "c2w must be (N, T, 4, 4) = (2, 9, 4, 4)"),
    (lambda v, p: (v, p * 2.0), "c2w[0, 0] is not a rigid camera-to-world pose"),
    (lambda v, p: (v, np.where(np.arange(9)[None, :, None, None] == 3, np.nan, p)), "NaN"),
    (lambda v, p: ([v[0], v[1, :5]], p), "videos[1] is (5, 32, 32, 3)"),
])
def test_wrong_frames_or_poses_are_one_line(reference, change, message):
    video, c2w = change(*frames_and_poses(reference))
    with pytest.raises(DataError) as err:
        ClipBank.from_frames(video, c2w)
    assert message in str(err.value) and "\n" not in str(err.value)


def write_recordings(folder, video, c2w):
    """Recording a: an mp4 of both clips back to back (18 frames); b: a folder of PNGs (9 frames)."""
    from PIL import Image

    from worldsim.render.video import VideoWriter
    folder.mkdir()
    with VideoWriter(folder / "a.mp4", 24, 32, 32) as writer:
        writer.write(np.concatenate(list(video)))
    np.save(folder / "a.npy", np.concatenate(list(c2w)))
    (folder / "a.txt").write_text("a walk in my game\n")
    (folder / "b").mkdir()
    for i, frame in enumerate(video[0]):
        Image.fromarray(frame).save(folder / "b" / f"{i:03d}.png")
    np.save(folder / "b.npy", c2w[0])


def test_bank_from_a_folder_of_recordings(tmp_path, reference, capsys):
    video, c2w = frames_and_poses(reference)
    write_recordings(tmp_path / "rec", video, c2w)
    out = tmp_path / "bank.safetensors"
    assert main(["train", "bank", "--from-dir", str(tmp_path / "rec"), "--frames", "9", "--camera", "od",
                 "--out", str(out)]) == 0
    bank = ClipBank.load(out)
    assert bank.tensors["video"].shape == (3, 3, 9, 32, 32) and bank.prompts == ["a walk in my game"] * 2 + [""]
    assert torch.equal(bank.tensors["video"][2], reference.tensors["video"][0])        # PNGs: lossless
    assert (bank.tensors["video"][:2].float() - reference.tensors["video"].float()).abs().mean() < 12   # mp4
    expected = ClipBank.from_frames(np.concatenate([video, video[:1]]), np.concatenate([c2w, c2w[:1]]))
    torch.testing.assert_close(bank.tensors["controls"], expected.tensors["controls"], rtol=0, atol=0)

    val = tmp_path / "val.safetensors"                    # the encoding reused; 18 frames: 3 clips of 5, 9: 1
    assert main(["train", "bank", "--from-dir", str(tmp_path / "rec"), "--frames", "5",
                 "--camera-from", str(out), "--out", str(val)]) == 0
    assert ClipBank.load(val).info["controls"] == bank.info["controls"] and len(ClipBank.load(val)) == 3 + 1
    capsys.readouterr()

    (tmp_path / "rec" / "c.npy").write_bytes((tmp_path / "rec" / "b.npy").read_bytes())
    for argv, message in [
        (["--from-dir", str(tmp_path / "rec"), "--frames", "9"], "c.npy has no frames beside it"),
        (["--from-dir", str(tmp_path / "nope")], "no such folder"),
        (["--from-dir", str(tmp_path / "rec"), "--kind", "pose"], "--kind is for reference-world banks"),
        ([], "give --world-seeds"),
    ]:
        assert main(["train", "bank", *argv, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    (tmp_path / "rec" / "c.npy").unlink()
    np.save(tmp_path / "rec" / "b.npy", c2w[0, :5])
    assert main(["train", "bank", "--from-dir", str(tmp_path / "rec"), "--frames", "5", "--out", str(out)]) == 2
    assert "b.npy is (5, 4, 4), but b has 9 frames: it needs (9, 4, 4)" in capsys.readouterr().err
