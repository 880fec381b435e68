"""Each measure on synthetic cases with known answers."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from worldsim.errors import WorldsimUserError
from worldsim.eval.config import EvalConfig, parse_seeds
from worldsim.eval.detail import detail, ratio
from worldsim.eval.drift import EPS, drift
from worldsim.eval.images import PSNR_CAP, psnr, ssim
from worldsim.eval.phase import phase_shift
from worldsim.eval.report import dumps, table
from worldsim.eval.run import evaluate
from worldsim.eval.yaw import per_position, yaw_following
from worldsim.worlds.world import cpu_threads

FAST = EvalConfig(seeds=(100000,), seconds=2.0, drift_seconds=4.0, teacher_seconds=1.0, video_seconds=0)


def stripes() -> np.ndarray:
    frame = np.zeros((16, 16, 3), np.uint8)
    frame[:, ::2] = 255
    return frame


def test_psnr_of_known_shifts_and_offsets():
    a = stripes()
    assert psnr(a, np.roll(a, 1, axis=1)) == pytest.approx(0.0)            # every pixel off by 255
    assert psnr(a, np.roll(a, 2, axis=1)) == PSNR_CAP                       # identical
    b = np.full((8, 8, 3), 100, np.uint8)
    assert psnr(b, b + 5) == pytest.approx(10 * math.log10(255 ** 2 / 25))


def test_ssim_is_one_for_identical_frames_and_known_for_a_brightness_offset():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    assert np.allclose(ssim(a, a), 1.0)
    flat = np.full((1, 16, 16, 3), 100, np.uint8)
    c1 = (0.01 * 255) ** 2                                                  # only the luminance term is < 1
    assert ssim(flat, flat + 10)[0] == pytest.approx((2 * 100 * 110 + c1) / (100 ** 2 + 110 ** 2 + c1), rel=1e-5)
    noisy = np.clip(a + rng.normal(0, 60, a.shape), 0, 255).astype(np.uint8)
    assert (ssim(a, noisy) < 0.9).all()


def smooth(size: int, seed: int = 0, sigma: float = 0.15):
    rng = np.random.default_rng(seed)
    fy, fx = np.fft.fftfreq(size)[:, None], np.fft.fftfreq(size)[None]
    spectrum = np.fft.fft2(rng.normal(size=(size, size))) * np.exp(-(fx ** 2 + fy ** 2) / (2 * sigma ** 2))
    return lambda dx, dy: np.real(np.fft.ifft2(spectrum * np.exp(-2j * np.pi * (fx * dx + fy * dy))))


@pytest.mark.parametrize("dx,dy", [(3.0, 0.0), (2.37, -1.61), (-7.25, 0.4), (0.05, 0.0), (0.5, 0.5)])
def test_phase_correlation_is_subpixel_accurate(dx, dy):
    shifted = smooth(256)
    a, b = shifted(0, 0), shifted(dx, dy)
    got = phase_shift(a, b, window=False)                                  # periodic: the whole image
    assert abs(got[0] - dx) <= 0.05 and abs(got[1] - dy) <= 0.05
    got = phase_shift(a[64:192, 64:192], b[64:192, 64:192])                 # a crop: windowed
    assert abs(got[0] - dx) <= 0.05 and abs(got[1] - dy) <= 0.05


def test_phase_correlation_of_an_integer_roll_of_uint8_frames():
    frame = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert phase_shift(frame, np.roll(frame, (2, -3), axis=(0, 1)), window=False) == pytest.approx((-3.0, 2.0), abs=1e-9)


def test_truth_against_itself_is_perfect(synthetic):
    truth = synthetic["panorama"]()
    s = evaluate(synthetic["panorama"](), FAST, truth_renderer=truth, progress=False)
    assert s["teacher_forced"] is None                                      # no step_teacher_forced: n/a
    for h in s["autoregressive"]["horizons"].values():
        assert h["model"] == {"psnr": PSNR_CAP, "ssim": pytest.approx(1.0)}
        assert h["copy"]["psnr"] < PSNR_CAP
    assert s["yaw"]["autoregressive"]["following_pct"] == pytest.approx(100.0)
    assert s["yaw"]["autoregressive"]["following_least_squares_pct"] == pytest.approx(100.0)
    assert s["yaw"]["autoregressive"]["error_pct"] == pytest.approx(0.0)
    for row in s["yaw"]["autoregressive"]["by_position"]:
        assert row["following_least_squares_pct"] == pytest.approx(100.0) and row["error_least_squares_pct"] == 0.0
    assert s["drift"]["model"]["drift"] == 1.0
    assert s["detail"]["autoregressive"] == s["detail"]["walk"]["first"] == s["detail"]["walk"]["last"] == [1.0] * 3
    detail_rows = [line.split() for line in table(s).splitlines() if line.lstrip().startswith("detail vs truth")]
    assert len(detail_rows) == 3 and all(r[-5:] == ["1.00", "/", "1.00", "/", "1.00"] for r in detail_rows)
    for r in s["revisit"].values():
        assert r["vs_first"]["psnr"] == r["vs_truth"]["psnr"] == r["truth_vs_first"]["psnr"] == PSNR_CAP
    json.loads(dumps(s))                                                   # strict JSON
    assert "n/a" in table(s)
    distances = [line.split() for line in table(s).splitlines() if "feature distance to truth" in line]
    assert [d[4] for d in distances] == ["first", "last"] and all(d[7] == "0.00" for d in distances)


def test_a_frozen_generator_follows_no_yaw(synthetic):
    s = evaluate(synthetic["frozen"](), FAST, truth_renderer=synthetic["panorama"](), progress=False)
    assert s["yaw"]["autoregressive"]["following_pct"] == pytest.approx(0.0)
    assert s["yaw"]["autoregressive"]["following_least_squares_pct"] == pytest.approx(0.0, abs=1e-6)
    assert s["yaw"]["autoregressive"]["error_pct"] == pytest.approx(100.0)
    for row in s["yaw"]["autoregressive"]["by_position"]:
        assert row["following_least_squares_pct"] == pytest.approx(0.0, abs=1e-6)
        assert row["error_least_squares_pct"] == pytest.approx(100.0)
    turn = s["revisit"]["turn360"]
    assert turn["vs_first"]["psnr"] == PSNR_CAP                             # frozen looks "consistent" ...
    assert turn["away_psnr"] == pytest.approx(turn["away_psnr_first_frame"])   # ... but is the freeze baseline


def test_a_generator_lagging_one_step_is_caught_by_the_revisit_measure(synthetic):
    s = evaluate(synthetic["lagging"](), FAST, truth_renderer=synthetic["panorama"](), progress=False)
    for name in ("turn360", "revisit"):
        r = s["revisit"][name]
        assert r["truth_vs_first"]["psnr"] == PSNR_CAP
        assert r["vs_truth"]["psnr"] < 25 and r["vs_first"]["psnr"] < 25
    assert s["yaw"]["autoregressive"]["following_pct"] > 80                 # the lag is not a freeze


def test_drift_is_one_without_drift_and_grows_with_decay():
    rng = np.random.default_rng(0)
    true = rng.integers(0, 256, (1, 1 + 24 * 10, 16, 16, 3), dtype=np.uint8)
    assert drift(true, true, 24.0)["model"]["drift"] == 1.0
    fade = np.linspace(0, 1, true.shape[1])[None, :, None, None, None]     # blends into grey over time
    decayed = (true * (1 - fade) + 128 * fade).astype(np.uint8)
    out = drift(true, decayed, 24.0)
    assert out["model"]["drift"] > 2
    (first, last), = out["per_seed_distances"]                          # one seed: its ratio from its distances
    assert out["per_seed"] == [pytest.approx((last + EPS) / (first + EPS), rel=1e-6)] and last > first


def box_blur(frames: np.ndarray) -> np.ndarray:
    """A 3x3 mean over H and W (edges repeated)."""
    f = np.pad(frames.astype(np.float32), [(0, 0)] * (frames.ndim - 3) + [(1, 1), (1, 1), (0, 0)], mode="edge")
    H, W = frames.shape[-3:-1]
    return (sum(f[..., i:i + H, j:j + W, :] for i in range(3) for j in range(3)) / 9).astype(np.uint8)


def test_detail_is_one_for_the_truth_below_one_for_a_blur_and_above_for_noise():
    rng = np.random.default_rng(0)
    true = rng.integers(0, 256, (2, 1 + 24 * 10, 16, 16, 3), dtype=np.uint8)
    assert ratio(true, true) == 1.0
    assert ratio(box_blur(true), true) < 0.3
    flat = np.full_like(true, 128)
    assert ratio(flat, flat) is None                                       # nothing to compare against
    noisy = np.clip(box_blur(true) + rng.normal(0, 60, true.shape), 0, 255).astype(np.uint8)
    assert ratio(noisy, box_blur(true)) > 3
    # blurring as it goes: the walk's last window has less detail than its first
    fade = (np.arange(true.shape[1]) >= true.shape[1] - 24 * 5)[None, :, None, None, None]     # the last 5 s
    blurring = np.where(fade, box_blur(true), true)
    assert ratio(box_blur(true), true) < ratio(box_blur(true), true, scale=2) < ratio(box_blur(true), true, scale=4)
    d = detail([], true, blurring, 24.0, seconds=2.0)
    assert d["scales"] == [1, 2, 4] and d["autoregressive"] == [None, None, None]
    assert d["walk"]["first"] == [1.0, 1.0, 1.0] and all(r < 0.6 for r in d["walk"]["last"])


def test_yaw_following_per_position_shows_where_it_stops():
    positions = np.repeat(np.arange(0, 9), 4)[3:]                          # frame t -> its step
    true = np.where(positions >= 1, 4.0, np.nan)[None]
    gen = np.where(positions <= 4, 4.0, 0.0)[None]
    rows = {r["positions"]: r for r in per_position(gen, true, positions, window=4)}
    assert rows["1-4"]["following_pct"] == 100.0 and not rows["1-4"]["beyond_window"]
    assert rows["5-8"]["following_pct"] == 0.0 and rows["5-8"]["beyond_window"]


def test_seeds_parse_and_training_seeds_are_refused():
    assert parse_seeds("100000-100002,100007") == (100000, 100001, 100002, 100007)
    for bad in ("abc", "5-2", "1,,2"):
        with pytest.raises(WorldsimUserError, match="--seeds"):
            parse_seeds(bad)
    with pytest.raises(WorldsimUserError, match="training world seeds"):
        EvalConfig(seeds=(3,))


def test_a_size_the_reference_cannot_render_is_a_user_error():
    from worldsim.eval.truth import TruthPool
    from worldsim.runtime.renderer import RendererSpec
    with pytest.raises(WorldsimUserError, match="cannot render the subject's 30x30"):
        TruthPool(RendererSpec("odd", 30, 30))


class _Turning:
    """A trajectory stand-in: a pure yaw between every pair of frames."""
    name = "turning"

    def __init__(self, frames: int):
        self.frames = frames

    def yaw_steps(self) -> np.ndarray:
        return np.r_[np.nan, np.full(self.frames - 1, 0.01)]


def test_least_squares_following_per_position_on_a_blurry_subject():
    """The truth's content moves 1 px right per frame throughout; the subject (a blurred copy) keeps
    up for positions 1-4, goes at half speed for 5-8 and stands still for 9-12."""
    shifted = smooth(64, seed=3, sigma=0.08)
    positions = np.repeat(np.arange(0, 13), 4)[3:]                         # frame t -> its step (frame 0: 0)
    speed = np.select([positions <= 4, positions <= 8], [1.0, 0.5], 0.0)
    speed[0] = 0.0
    to_rgb = lambda img: np.repeat(np.clip(128 + 50 * img / img.std(), 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    blur = np.exp(-(np.fft.fftfreq(64)[:, None] ** 2 + np.fft.fftfreq(64)[None] ** 2) / (2 * 0.05 ** 2))
    soft = lambda img: np.real(np.fft.ifft2(np.fft.fft2(img) * blur))    # what a blurry decoder shows
    true = np.stack([to_rgb(shifted(float(t), 0.0)) for t in range(len(positions))])[None]
    gen = np.stack([to_rgb(soft(shifted(float(x), 0.0))) for x in np.cumsum(speed)])[None]
    with cpu_threads(1):                      # as evaluate() measures: torch threads spin on a busy small CPU
        y = yaw_following([(_Turning(len(positions)), true, gen, positions)], height=64, fovy_deg=60.0, window=8)
    rows = {r["positions"]: r for r in y["by_position"]}
    assert list(rows) == ["1-4", "5-8", "9-12"] and rows["9-12"]["beyond_window"]
    assert rows["1-4"]["following_least_squares_pct"] == pytest.approx(100, abs=5)
    assert rows["1-4"]["error_least_squares_pct"] == pytest.approx(0, abs=5)
    assert rows["5-8"]["following_least_squares_pct"] == pytest.approx(50, abs=5)
    assert rows["5-8"]["error_least_squares_pct"] == pytest.approx(50, abs=5)
    assert rows["9-12"]["following_least_squares_pct"] == pytest.approx(0, abs=1e-6)
    assert rows["9-12"]["error_least_squares_pct"] == pytest.approx(100)
    assert "following_pct" in rows["1-4"]                                   # the phase figure stays beside it


def test_the_position_table_shows_least_squares_rows_and_na_for_old_summaries():
    rows = [{"positions": "1-4", "following_pct": 1.0, "pairs": 4, "beyond_window": False,
             "following_least_squares_pct": 97.0, "error_least_squares_pct": 6.0},
            {"positions": "5-8", "following_pct": 2.0, "pairs": 4, "beyond_window": True,
             "following_least_squares_pct": 40.0, "error_least_squares_pct": 60.0}]
    new = {"yaw": {"autoregressive": {"by_position": rows}, "teacher_forced": {"by_position": rows[:1]}}}
    md = table(new, markdown=True)
    assert "| autoregressive, least-squares | 97 | 40 |" in md and "| teacher-forced, least-squares | 97 | n/a |" in md
    assert "| autoregressive, least-squares error % | 6 | 60 |" in md and "| autoregressive | 1 | 2 |" in md
    assert "1-4: 97/97  5-8*: 40/n/a" in table(new)
    old = {"yaw": {"autoregressive": {"by_position": [{k: r[k] for k in ("positions", "following_pct", "pairs",
                                                                         "beyond_window")} for r in rows]},
                   "teacher_forced": None}}
    md = table(old, markdown=True)
    assert "| autoregressive | 1 | 2 |" in md and "| autoregressive, least-squares | n/a | n/a |" in md
    assert "| teacher-forced, least-squares error % | n/a | n/a |" in md
    assert "n/a (not in this summary)" in table(old)
