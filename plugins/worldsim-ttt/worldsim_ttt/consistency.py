"""Scene consistency across segments: does a place revisited later in a film look like it did?

A storyboard scene's `place` names the place it shows: two scenes with the same place are a visit
and a revisit of it. (Not its `seed`: that is the scene's noise, and a revisit drawn from the same
noise as the visit would look alike without any memory.) For every later scene that revisits an earlier one, the revisit's
first `REVISIT_FRAMES` frames are compared with the earlier scene's frames, and, as the baseline,
with the frames of every scene of another place in the same film (a scene without a place counts as
a place of its own). A model that remembers places scores its revisits closer to their own place
than to the others; the gap is the measure.

    consistency(cuts, scenes)       # cuts: per-scene uint8 frames (T, H, W, 3), as render.film_scenes cuts them

Two deterministic image measures, both plain arithmetic on the decoded pixels (no learned model,
so nothing to train and nothing that could itself be fooled by the films):

* `histogram`: intersection (sum of bin-wise minima, 0..1, 1 = the same colours) of the two frame
  sets' joint RGB histograms (`BINS` per channel, pooled over all pixels of all frames of a set).
  It ignores where things are in the frame, so a revisit seen from another spot or heading still
  matches on what a place is made of in colour: its sky and time-of-day light, haze, ground cover.
* `psnr_db`: PSNR of `THUMB`x`THUMB` area-averaged thumbnails, each revisit frame against its best
  match among the other set's frames, averaged over the revisit frames. Thumbnails keep the coarse
  layout (horizon height, sky over ground, a large landmark) and forgive small camera offsets; the
  best match lets the revisit be any view the earlier visit showed.

The first frames are used because that is where a revisit starts from the model's memory alone; the
later frames of a scene may drift toward whatever its caption says.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

REVISIT_FRAMES = 12     # the revisit's first frames (0.5 s at 24 fps, as the caption classifier reads)
PLACE_FRAMES = 48       # at most this many frames of the compared scene, evenly spaced
BINS = 8                # per colour channel: 512 joint bins
THUMB = 8               # thumbnail side in pixels
MEASURES = ("histogram", "psnr_db")


def place_key(scene, index: int):
    """The place a scene shows: its `place`, or (without one) a place of its own."""
    return ("place", scene.place) if scene.place is not None else ("scene", index)


def revisits(scenes) -> list[tuple[int, int]]:
    """(earlier, later) scene indices of every revisit: each later scene with each earlier one of its place."""
    return [(a, b) for b in range(len(scenes)) for a in range(b)
            if scenes[b].place is not None and scenes[a].place == scenes[b].place]


def _spaced(frames: np.ndarray, most: int) -> np.ndarray:
    if len(frames) <= most:
        return frames
    return frames[np.linspace(0, len(frames) - 1, most).round().astype(int)]


def colour_histogram(frames: np.ndarray) -> np.ndarray:
    """Joint RGB histogram (BINS**3,) of all pixels of uint8 frames (T, H, W, 3), summing to 1."""
    q = (frames.reshape(-1, 3).astype(np.int64) * BINS) // 256
    counts = np.bincount((q[:, 0] * BINS + q[:, 1]) * BINS + q[:, 2], minlength=BINS ** 3)
    return counts / counts.sum()


def thumbnails(frames: np.ndarray) -> np.ndarray:
    """Area-averaged THUMB x THUMB thumbnails (T, 3, THUMB, THUMB), float64 in 0..255."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).double()
    return F.adaptive_avg_pool2d(x, THUMB).numpy()


def best_match_psnr(probe: np.ndarray, place: np.ndarray) -> float:
    """Mean over the probe's thumbnails of the PSNR (dB, peak 255) against the best-matching place
    thumbnail; identical thumbnails count as 99 dB."""
    a, b = thumbnails(probe), thumbnails(place)
    mse = ((a[:, None] - b[None]) ** 2).mean(axis=(2, 3, 4)).min(axis=1)
    return float(np.mean(np.minimum(99.0, 10 * np.log10(255.0 ** 2 / np.maximum(mse, 1e-12)))))


def similarity(probe: np.ndarray, place: np.ndarray) -> dict[str, float]:
    """Both measures of a revisit's first frames (probe) against a scene's frames (place)."""
    place = _spaced(place, PLACE_FRAMES)
    return {"histogram": float(np.minimum(colour_histogram(probe), colour_histogram(place)).sum()),
            "psnr_db": best_match_psnr(probe, place)}


def _mean(rows: list[dict]) -> dict[str, float]:
    return {m: float(np.mean([r[m] for r in rows])) for m in MEASURES}


def consistency(cuts: list[np.ndarray], scenes, revisit_frames: int = REVISIT_FRAMES) -> dict:
    """Per revisit pair: `revisit` (similarity to the earlier visit), `others` (mean similarity to
    the film's scenes of other places), `gap` (revisit - others), per measure; then the means over
    pairs. A storyboard without a revisit, or with only one place, raises ValueError."""
    pairs = revisits(scenes)
    if not pairs:
        raise ValueError("no scene revisits an earlier one (give two scenes the same place)")
    places = [place_key(s, i) for i, s in enumerate(scenes)]
    out = []
    for a, b in pairs:
        probe = cuts[b][:revisit_frames]
        others = [similarity(probe, cuts[c]) for c in range(len(scenes)) if places[c] != places[b]]
        if not others:
            raise ValueError("every scene shows the same place: no other place to compare a revisit with")
        same, base = similarity(probe, cuts[a]), _mean(others)
        out.append({"earlier": a + 1, "revisit": b + 1, "place": scenes[b].place, "same_place": same,
                    "other_places": base, "other_scenes": len(others),
                    "gap": {m: same[m] - base[m] for m in MEASURES}})
    same = _mean([p["same_place"] for p in out])
    base = _mean([p["other_places"] for p in out])
    return {"pairs": out, "mean": {"revisit": same, "non_revisit": base,
                                   "gap": {m: same[m] - base[m] for m in MEASURES}},
            "revisit_frames": revisit_frames, "measures": list(MEASURES)}
