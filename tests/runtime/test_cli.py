"""The command line starts fast: listing commands loads neither torch nor pygame."""
import subprocess
import sys


def test_building_the_cli_imports_no_model_or_window_code():
    code = ("import sys; from worldsim.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'pygame', 'moderngl') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_user_errors_are_one_line_without_a_traceback():
    out = subprocess.run([sys.executable, "-m", "worldsim.cli", "play", "--size", "big"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "size must look like 736x416" in out.stderr and "Traceback" not in out.stderr


def test_renderer_options_reach_the_renderer_through_the_worker(tmp_path):
    """--renderer-option KEY=VALUE passes a constructor option the CLI has no flag for (VALUE as JSON
    where it parses): the test pattern at 15 fps and 64x48 reports that spec in play's stats."""
    stats = tmp_path / "stats.json"
    out = subprocess.run([sys.executable, "-m", "worldsim.cli", "play", "--renderer", "testpattern", "--headless",
                          "--ticks", "5", "--fast", "--renderer-option", "fps=15", "--renderer-option", "width=64",
                          "--renderer-option", "height=48", "--stats", str(stats)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    import json
    assert json.loads(stats.read_text())["size"] == [64, 48]


def test_renderer_option_mistakes_are_one_line():
    from worldsim.errors import WorldsimUserError
    from worldsim.runtime.commands import parse_renderer_option
    assert parse_renderer_option("preset=tiny") == ("preset", "tiny") and parse_renderer_option("seconds=6") == ("seconds", 6)
    assert parse_renderer_option("cfg=1.5") == ("cfg", 1.5) and parse_renderer_option("compile=true") == ("compile", True)
    assert parse_renderer_option("prompt=a=b") == ("prompt", "a=b") and parse_renderer_option("note=") == ("note", "")
    for bad in ("oops", "=3", "two words=1"):
        try:
            parse_renderer_option(bad)
        except WorldsimUserError as err:
            assert "must look like KEY=VALUE" in str(err) and "\n" not in str(err)
        else:
            raise AssertionError(bad)
    out = subprocess.run([sys.executable, "-m", "worldsim.cli", "play", "--renderer", "testpattern", "--headless",
                          "--ticks", "2", "--renderer-option", "nosuch=1"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].endswith("takes no option nosuch")
