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
