"""The causal VAE: shapes of the 4x/8x compression, causality, and streaming == whole-clip decoding."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from worldsim.config import VAEConfig, model_preset
from worldsim.models.vae import CausalVAE, StreamingDecoder


def make_vae() -> CausalVAE:
    torch.manual_seed(0)
    vae = CausalVAE(model_preset("tiny").vae).eval()
    vae.set_latent_stats(torch.rand(16) - 0.5, torch.rand(16) + 0.5)
    return vae


def test_encode_first_frame_alone_and_causal():
    vae = make_vae()
    video = torch.rand(1, 3, 9, 32, 24) * 2 - 1
    with torch.no_grad():
        z = vae.encode(video)
        assert z.shape == (1, 16, 3, 4, 3)
        changed = video.clone()
        changed[:, :, 5:] = 0.0                                 # frames of latent 2 only
        z2 = vae.encode(changed)
    torch.testing.assert_close(z2[:, :, :2], z[:, :, :2])      # the past does not see the future
    assert not torch.allclose(z2[:, :, 2], z[:, :, 2])
    with pytest.raises(ValueError, match="1\\+4k frames"):
        vae.encode(video[:, :, :8])


@pytest.mark.parametrize("light", [False, True])
def test_streaming_decode_equals_whole_clip_decode(light):
    vae = make_vae()
    z = torch.randn(2, 16, 5, 4, 4)
    with torch.no_grad():
        whole = vae.decode(z, light=light)
    assert whole.shape == (2, 3, 17, 32, 32)
    dec = StreamingDecoder(vae, light=light)
    parts = [dec(z[:, :, i]) for i in range(z.shape[2])]
    assert [p.shape[2] for p in parts] == [1, 4, 4, 4, 4]
    torch.testing.assert_close(torch.cat(parts, dim=2), whole, rtol=1e-5, atol=1e-5)


def test_sessions_decode_in_their_slots_as_in_a_decoder_of_their_own():
    """Sessions in any rows of a static cache (non-contiguous, reordered, opened at different
    times, restarted, saved and loaded into another row) decode bit for bit as the same batches
    in a decoder of their own."""
    vae = make_vae()
    z = torch.randn(4, 16, 4, 4, 4)
    own = StreamingDecoder(vae, sessions=3)                 # sessions 0, 1, 2 in rows 0, 1, 2
    dec = StreamingDecoder(vae, sessions=5)                 # ... in rows 4, 1, 3
    assert torch.equal(dec(z[:2, :, 0], [4, 1]), own(z[:2, :, 0], [0, 1]))
    assert torch.equal(dec(z[2:3, :, 0], [3]), own(z[2:3, :, 0], [2]))        # one step behind
    assert torch.equal(dec(z[[2, 0, 1], :, 1], [3, 4, 1]), own(z[[2, 0, 1], :, 1], [2, 0, 1]))
    saved = dec.cache.save(4)
    assert torch.equal(dec(z[:3, :, 2], [4, 1, 3]), own(z[:3, :, 2]))
    dec.cache.restart(1)                                    # a new session in session 1's row
    with pytest.raises(ValueError, match="first latents and later ones"):
        dec(z[:2, :, 3], [4, 1])
    assert torch.equal(dec(z[3:, :, 0], [1]), StreamingDecoder(vae)(z[3:, :, 0]))
    dec.cache.load(0, saved)                                # session 0 before latent 2, in row 0
    alone = StreamingDecoder(vae, sessions=1)
    alone.cache.load(0, saved)
    assert torch.equal(dec(z[:1, :, 2], [0]), alone(z[:1, :, 2]))
    assert dec.cache.save(2) == {} and len(saved) == len(dec.cache.frames)


def test_streaming_state_is_static():
    """One buffer per cached conv, allocated once: many steps of changing sessions write in place."""
    vae = make_vae()
    dec = StreamingDecoder(vae, light=True, sessions=4)
    z = torch.randn(4, 16, 4, 4)
    dec(z, [0, 1, 2, 3])
    buffers = {m: (t.data_ptr(), t.shape) for m, t in dec.cache.frames.items()}
    assert buffers and all(shape[0] == 4 for _, shape in buffers.values())
    for i in range(30):
        slots = [[0, 1, 2, 3], [3, 1], [2], [0, 2, 3]][i % 4]
        dec(z[:len(slots)], slots)
    assert {m: (t.data_ptr(), t.shape) for m, t in dec.cache.frames.items()} == buffers


def test_the_row_index_cache_stays_bounded_as_sessions_come_and_go(monkeypatch):
    import itertools

    import worldsim.models.vae as vae_module
    monkeypatch.setattr(vae_module, "ROW_INDEX_CACHE", 8)
    vae = make_vae()
    dec, alone = StreamingDecoder(vae, light=True, sessions=6), StreamingDecoder(vae, light=True, sessions=6)
    z = torch.randn(3, 16, 4, 4)
    for slots in itertools.permutations(range(6), 3):                     # 120 distinct slot tuples
        for row in range(6):
            dec.cache.restart(row)                                            # each call a set of first latents
        dec(z, list(slots))
        assert len(dec._row_index) <= 8
    dec.reset(), alone.reset()
    assert torch.equal(dec(z, [5, 0, 3]), alone(z, [5, 0, 3]))            # a cleared cache indexes the same rows


@pytest.mark.parametrize("light", [False, True])
@pytest.mark.parametrize("changes", [{"time_up_kernel": 3}, {"time_down_kernel": 3},
                                     {"light_causal_levels": (2, 3)}, {"causal_levels": (1, 2, 3)}])
def test_temporal_options_stream_like_whole_clip_decoding(changes, light):
    """The VAEConfig options of the motion study keep streaming == whole-clip decoding, and causality."""
    torch.manual_seed(0)
    vae = CausalVAE(replace(model_preset("tiny").vae, **changes)).eval()
    vae.set_latent_stats(torch.rand(16) - 0.5, torch.rand(16) + 0.5)
    video = torch.rand(2, 3, 17, 32, 32) * 2 - 1
    with torch.no_grad():
        z = vae.encode(video)
        changed = video.clone()
        changed[:, :, 9:] = 0.0                                 # frames of latents 3 and 4 only
        torch.testing.assert_close(vae.encode(changed)[:, :, :3], z[:, :, :3])
        whole = vae.decode(z, light=light)
    dec = StreamingDecoder(vae, light=light)
    parts = [dec(z[:, :, i]) for i in range(z.shape[2])]
    torch.testing.assert_close(torch.cat(parts, dim=2), whole, rtol=1e-5, atol=1e-5)


def test_default_temporal_options_build_the_original_architecture():
    """New VAEConfig fields default to the old modules, so stored checkpoints keep loading."""
    old = VAEConfig(latent_channels=32, channels=(32, 64, 128, 128), light_channels=(32, 64, 128),
                    light_blocks=(0, 1, 1))
    vae = CausalVAE(old)
    shapes = {k: tuple(v.shape) for k, v in vae.state_dict().items()}
    assert shapes["decoder.time_up.1.conv.conv.weight"][2:] == (3, 1, 1)
    assert shapes["encoder.time_down.1.merge.weight"][2:] == (1, 1, 1)
    assert shapes["light_decoder.levels.2.0.conv1.conv.weight"][2] == 1       # per frame at level 2
    with pytest.raises(ValueError, match="odd"):
        VAEConfig(time_up_kernel=2)
