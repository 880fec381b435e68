"""The film sampling benchmark on the CPU (tiny preset): rows per variant and length, one-line errors."""
from __future__ import annotations

import json

from worldsim_ttt.bench_film import main


def test_rows_for_every_variant_and_length(capsys):
    assert main(["--preset", "tiny", "--seconds", "1", "2", "--seconds-per-segment", "0.5", "--steps", "2",
                 "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["variant"], r["seconds"]) for r in rows] == [(v, s) for s in (1.0, 2.0) for v in ("ttt-mlp", "local", "full")]
    for r in rows:
        assert r["segments"] == 2 * r["seconds"] and r["tokens"] == r["segments"] * (8 + 4 * 16)   # tiny: 8 text tokens, 4 frames of 4x4
        assert r["film_s"] > 0 and r["ms_per_forward"] == r["ms_per_step"]        # cfg: one forward of batch 2 a step
    assert all(r["ratio_to_local"] == 1.0 for r in rows if r["variant"] == "local")
    assert {r["backend"] for r in rows} == {"torch", "-"}


def test_bad_arguments_are_one_line_errors(capsys):
    for argv in (["--seconds", "0"], ["--steps", "0"], ["--res", "30x32"], ["--backend", "triton"],
                 ["--preset", "huge"]):
        assert main(["--preset", "tiny", "--device", "cpu", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, err


def test_profile_of_the_ttt_film_forward(tmp_path, capsys):
    table = tmp_path / "film.txt"
    assert main(["--preset", "tiny", "--device", "cpu", "--seconds", "1", "--seconds-per-segment", "0.5", "--steps", "1",
                 "--variants", "ttt-mlp", "local", "--profile", str(table), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    profile = rows[-1]
    assert profile["variant"] == "ttt-mlp" and profile["seconds"] == 1.0 and "Self CPU" in table.read_text()
    names = [r["name"] for r in profile["profile"]]
    assert 1 <= len(names) <= 12 and any("mm" in n for n in names)      # the scan's and projections' matmuls
