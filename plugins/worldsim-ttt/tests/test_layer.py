"""TTTLayer and GatedBidirectionalTTT: reversal, gates, padding, RoPE placement, gradients."""
from __future__ import annotations

import math

import pytest
import torch

from worldsim_ttt import GatedBidirectionalTTT, Segment, SequenceLayout, TTTLayer

SEGMENTS = [Segment(3, 2, 2, 3), Segment(2, 1, 3, 2), Segment(4, 2, 1, 2)]   # 3 + 12, 2 + 6, 4 + 4 tokens


def make_block(kind="mlp", seed=0):
    torch.manual_seed(seed)
    block = GatedBidirectionalTTT(16, 2, kind=kind, mini_batch=4).double()
    with torch.no_grad():  # a nonzero initial state and inner rate, so the scan matters
        for p in block.ttt.inner_params():
            p.normal_(0, 0.3)
        block.ttt.lr_proj.bias.fill_(2.0)
    return block


def explicit_reverse(x, segments):
    """[t1, v1, t2, v2, ...] -> [t_n, flip(v_n), ..., t_1, flip(v_1)], built from python slices."""
    chunks, start = [], 0
    for s in segments:
        t, v = x[:, start:start + s.text_tokens], x[:, start + s.text_tokens:start + s.text_tokens + s.video_tokens]
        chunks.append((t, v.flip(1)))
        start += s.text_tokens + s.video_tokens
    return torch.cat([c for t, v in reversed(chunks) for c in (t, v)], dim=1)


def explicit_restore(y, segments):
    out, start = [], 0
    for s in reversed(segments):
        t, v = y[:, start:start + s.text_tokens], y[:, start + s.text_tokens:start + s.text_tokens + s.video_tokens]
        out.append((t, v.flip(1)))
        start += s.text_tokens + s.video_tokens
    return torch.cat([c for t, v in reversed(out) for c in (t, v)], dim=1)


def test_layout_orders():
    lay = SequenceLayout(SEGMENTS)
    assert lay.length == 31 and int(lay.video_mask.sum()) == 22
    idx = torch.arange(lay.length)[None, :, None]
    assert torch.equal(idx[:, lay.reverse_order], explicit_reverse(idx, SEGMENTS))
    assert torch.equal(idx[:, lay.reverse_order][:, lay.restore_order], idx)
    assert lay.positions[3].tolist() == [0, 0, 0] and lay.positions[14].tolist() == [1, 1, 2]
    assert lay.positions[17].tolist() == [2, 0, 0]   # frames count on across segments
    with pytest.raises(ValueError, match="at least one segment"):
        SequenceLayout([])


@pytest.mark.parametrize("kind", ["mlp", "linear"])
def test_bidirectional_block_equals_explicit_reversal(kind):
    block, lay = make_block(kind), SequenceLayout(SEGMENTS)
    with torch.no_grad():
        block.alpha.normal_()
        block.beta.normal_()
    x = torch.randn(2, lay.length, 16, dtype=torch.float64)
    mask, pos = lay.video_mask, lay.positions
    a = torch.tanh(torch.where(mask[:, None], block.alpha[1], block.alpha[0]))
    b = torch.tanh(torch.where(mask[:, None], block.beta[1], block.beta[0]))
    z = x + a * block.ttt(x, mask, pos)
    rev_pos = explicit_reverse(pos[None], SEGMENTS)[0]
    rev_mask = explicit_reverse(mask[None, :, None], SEGMENTS)[0, :, 0]
    expected = z + b * explicit_restore(block.ttt(explicit_reverse(z, SEGMENTS), rev_mask, rev_pos), SEGMENTS)
    out = block(x, lay)
    assert torch.allclose(out, expected, rtol=0, atol=1e-12)
    # the backward direction really differs from the forward one (the scan is order-dependent)
    assert not torch.allclose(explicit_restore(block.ttt(explicit_reverse(z, SEGMENTS), rev_mask, rev_pos), SEGMENTS),
                              block.ttt(z, mask, pos), atol=1e-6)


def test_gates_at_init_scale_by_tanh_0_1():
    block, lay = make_block(), SequenceLayout(SEGMENTS)
    x = torch.randn(1, lay.length, 16, dtype=torch.float64)
    for gates in (block.alpha, block.beta):   # every gate is 0.1 (as stored in fp32, then cast)
        assert torch.equal(gates, torch.full_like(gates, 0.1, dtype=torch.float32).double())
    g = math.tanh(block.alpha[0, 0].item())
    ttt_fwd = block.ttt(x, lay.video_mask, lay.positions)
    z = x + g * ttt_fwd
    ttt_bwd = block.ttt(z[:, lay.reverse_order], lay.video_mask[lay.reverse_order],
                        lay.positions[lay.reverse_order])[:, lay.restore_order]
    out = block(x, lay)
    assert torch.allclose(out, z + g * ttt_bwd, rtol=0, atol=1e-12)
    # text and video gates are separate: closing the text gates leaves text tokens at X exactly
    with torch.no_grad():
        block.alpha[0].zero_()
        block.beta[0].zero_()
    out = block(x, lay)
    text = ~lay.video_mask
    assert torch.equal(out[:, text], x[:, text]) and not torch.allclose(out[:, ~text], x[:, ~text])


def test_padding_tokens_change_nothing():
    layer = make_block().ttt
    x = torch.randn(2, 10, 16, dtype=torch.float64)       # 10 tokens, mini_batch 4: padded to 12
    y = layer(x)
    assert y.shape == x.shape
    # two extra tokens whose inner rate is exactly 0 (sigmoid(-1000)) stand in for the padding
    W, b = layer.lr_proj.weight.detach(), layer.lr_proj.bias.detach()
    silent = torch.linalg.lstsq(W, (-1000.0 - b)[:, None]).solution[:, 0]
    assert torch.sigmoid(layer.lr_proj(silent)).max() == 0
    assert torch.allclose(layer(torch.cat([x, silent.expand(2, 2, 16)], 1))[:, :10], y, rtol=0, atol=1e-12)
    # while real tokens in the last mini-batch do train the state its tokens read
    assert not torch.allclose(layer(torch.cat([x, torch.randn(2, 2, 16, dtype=torch.float64)], 1))[:, :10], y)


def test_rope_only_on_video_tokens_and_gradients_reach_every_parameter():
    layer, lay = make_block().ttt, SequenceLayout(SEGMENTS)
    x = torch.randn(1, lay.length, 16, dtype=torch.float64)
    y = layer(x, lay.video_mask, lay.positions)
    moved = lay.positions.clone()
    moved[~lay.video_mask] += 7                        # text positions are ignored
    assert torch.equal(layer(x, lay.video_mask, moved), y)
    moved[lay.video_mask] += 1                         # video positions are not
    assert not torch.allclose(layer(x, lay.video_mask, moved), y)
    y.square().sum().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_bad_arguments():
    with pytest.raises(ValueError, match="kind"):
        TTTLayer(16, 2, kind="rnn")
    with pytest.raises(ValueError, match="divisible"):
        TTTLayer(15, 2)
    block, lay = make_block(), SequenceLayout(SEGMENTS)
    with pytest.raises(ValueError, match="layout has"):
        block(torch.randn(1, lay.length + 1, 16, dtype=torch.float64), lay)
