"""A contact strip of a film from `worldsim ttt render`: one frame per model segment, captioned.

    python plugins/worldsim-ttt/scripts/film_strip.py FILM.mp4 STORYBOARD.toml -o strip.png
    python plugins/worldsim-ttt/scripts/film_strip.py ttt.mp4 board.toml -o strip.png \
        --row "local attention only=local.mp4" --label "TTT-MLP" --columns 6

The film is cut as `worldsim ttt agreement` cuts it (`render.film_scenes`: each scene is
max(1, round(seconds / S)) model segments of 1 + 4 (n - 1) frames; give the render's
`--seconds-per-segment S`, default 3), and each segment shows its frame at `--at` (0..1 of the
segment, default 0.5: the middle). Under each frame: the segment's number, its scene's `place`
where it has one, and the scene's caption (the prompt the model read), wrapped. `--row "LABEL=FILM"`
adds a film rendered from the same storyboard (e.g. another model, or `--attention local`) as
another row of frames under the first, so segments line up in columns; `--label` names the
first row. `--columns N` wraps a long film onto several bands of N segments. The PNG is reduced to
`--colors` (default 256; 0: full colour) to stay small enough for the docs. Needs PyAV and Pillow.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def segment_frames(film: str, scenes, seconds_per_segment: float, at: float) -> list[np.ndarray]:
    """One frame per model segment of `film` (uint8 HxWx3), at fraction `at` of the segment."""
    from worldsim_ttt.render import film_scenes
    from worldsim_ttt.storyboard import scene_parts

    _, _, cuts = film_scenes(film, scenes, seconds_per_segment)
    out = []
    for cut, parts in zip(cuts, scene_parts(scenes, seconds_per_segment)):
        per = len(cut) // parts
        for p in range(parts):
            out.append(cut[p * per + min(per - 1, int(at * per))])
    return out


def segment_captions(scenes, seconds_per_segment: float) -> list[str]:
    from worldsim_ttt.storyboard import scene_parts

    out, k = [], 0
    for scene, parts in zip(scenes, scene_parts(scenes, seconds_per_segment)):
        for p in range(parts):
            k += 1
            head = f"{k}" + (f" [{scene.place}]" if scene.place else "") + (f" ({p + 1}/{parts})" if parts > 1 else "")
            out.append(head + "\n" + scene.prompt)
    return out


def wrap(text: str, font, width: int) -> list[str]:
    """`text` in lines no wider than `width` pixels in `font` (a word longer than that stands alone)."""
    lines: list[str] = []
    for word in text.split():
        if lines and font.getlength(lines[-1] + " " + word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def compose(rows: list[tuple[str, list[np.ndarray]]], captions: list[str], columns: int, scale: int,
            font_size: int = 9):
    """A white PIL image: bands of `columns` segments, each column the rows' frames over its caption."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=font_size)
    line = font_size + 2
    h, w = (d * scale // 2 for d in rows[0][1][0].shape[:2])
    label_w = line + 2 if any(label for label, _ in rows) else 0
    wrapped = [[head] + wrap(text, font, w - 2) for head, text in (c.split("\n", 1) for c in captions)]
    cap_h = max(map(len, wrapped)) * line + 6
    bands = (len(captions) + columns - 1) // columns
    band_h = len(rows) * (h + 2) + cap_h
    img = Image.new("RGB", (label_w + columns * (w + 2), bands * band_h), "white")
    draw = ImageDraw.Draw(img)
    for i, lines in enumerate(wrapped):
        band, col = divmod(i, columns)
        x, y = label_w + col * (w + 2), band * band_h
        for r, (_, frames) in enumerate(rows):
            img.paste(Image.fromarray(frames[i]).resize((w, h), Image.BILINEAR), (x, y + r * (h + 2)))
        y += len(rows) * (h + 2)
        for k, text in enumerate(lines):
            draw.text((x + 1, y + k * line), text, fill="black" if k == 0 else (70, 70, 70), font=font)
    for band in range(bands):                                  # row labels, written upwards in the margin
        for r, (label, _) in enumerate(rows):
            if label:
                tag = Image.new("RGB", (h, label_w), "white")
                ImageDraw.Draw(tag).text((2, 1), label, fill="black", font=font)
                img.paste(tag.rotate(90, expand=True), (0, band * band_h + r * (h + 2)))
    return img


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("film", help="the mp4 that `worldsim ttt render` wrote")
    p.add_argument("storyboard", help="the storyboard (TOML) it was rendered from")
    p.add_argument("-o", "--out", required=True, help="the PNG to write")
    p.add_argument("--row", action="append", default=[], metavar="LABEL=FILM",
                   help="another film of the same storyboard, shown as a row under the first (repeatable)")
    p.add_argument("--label", default="", help="the first row's label (shown when any row has one)")
    p.add_argument("--seconds-per-segment", type=float, default=3.0, help="the render's (default 3)")
    p.add_argument("--at", type=float, default=0.5, help="where in each segment to take its frame, 0..1 (default 0.5)")
    p.add_argument("--columns", type=int, default=0, help="segments per band (default: all in one band)")
    p.add_argument("--scale", type=int, default=2, help="frame size in halves of the film's (default 2: as is)")
    p.add_argument("--colors", type=int, default=256, help="palette size of the PNG (0: full colour; default 256)")
    a = p.parse_args(argv)
    from worldsim.errors import WorldsimUserError
    from worldsim_ttt.storyboard import load_storyboard

    try:
        if not 0 <= a.at <= 1 or a.columns < 0 or a.scale < 1 or not 0 <= a.colors <= 256:
            raise WorldsimUserError("--at must be in 0..1, --columns >= 0, --scale >= 1, --colors in 0..256")
        if not a.out.endswith(".png"):
            raise WorldsimUserError(f"-o must name a .png file, got {a.out!r}")
        scenes = load_storyboard(a.storyboard)
        rows = [(a.label, segment_frames(a.film, scenes, a.seconds_per_segment, a.at))]
        for spec in a.row:
            label, sep, film = spec.partition("=")
            if not sep:
                raise WorldsimUserError(f"--row must be LABEL=FILM, got {spec!r}")
            rows.append((label, segment_frames(film, scenes, a.seconds_per_segment, a.at)))
        captions = segment_captions(scenes, a.seconds_per_segment)
        img = compose(rows, captions, a.columns or len(captions), a.scale)
    except WorldsimUserError as err:
        print(f"film_strip: error: {err}", file=sys.stderr)
        return 2
    if a.colors:
        img = img.quantize(a.colors, dither=0)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    img.save(a.out, optimize=True)
    print(f"{a.out}: {len(captions)} segments x {len(rows)} rows, {img.width}x{img.height}, "
          f"{Path(a.out).stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
