"""`worldsim controls ...` commands."""
import json

from worldsim.cli import main
from worldsim.controls import Bindings, ScriptedInput


def test_bindings_save_edit_and_check(tmp_path, capsys):
    path = tmp_path / "b.toml"
    assert main(["controls", "bindings", "--save", str(path)]) == 0
    assert Bindings.load(path) == Bindings.default()
    path.write_text(path.read_text().replace('"jump"', '"jumpp"', 1))
    assert main(["controls", "bindings", "--check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "worldsim: error:" in err and "unknown action 'jumpp'" in err and "line" in err


def test_random_script_is_seeded_and_drives_measure_scales(tmp_path, capsys):
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    main(["controls", "script", "--seed", "3", "--ticks", "97", "-o", str(a)])
    main(["controls", "script", "--seed", "3", "--ticks", "97", "-o", str(b)])
    assert a.read_text() == b.read_text() and ScriptedInput.load(a).length == 97
    capsys.readouterr()
    assert main(["controls", "measure-scales", str(a), "--kind", "plucker"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kind"] == "plucker" and len(out["scales"]) == 6 and out["frames"] == 98
    assert main(["controls", "measure-scales"]) == 2


def test_list_and_check(capsys):
    assert main(["controls", "list"]) == 0
    out = capsys.readouterr().out
    assert "camera" in out and "25 channels" in out and "68 channels" in out
    assert main(["controls", "check", "worldsim.controls.builtin:POSE"]) == 0
    assert main(["controls", "check", "smell"]) == 2
    assert "unknown control 'smell'" in capsys.readouterr().err
