"""`worldsim serve` of the testpattern renderer in a real process, for tests that talk to it."""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def serve_testpattern(bind: str, size: str, *options: str):
    """Start `worldsim serve --renderer testpattern --size SIZE --bind BIND OPTIONS...`; yields the
    address it serves on (from its " serving ... on ADDRESS" line); stops it on exit."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "worldsim.cli", "serve", "--renderer", "testpattern",
                             "--size", size, "--bind", bind, *options],
                            cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    found = threading.Event()

    def read():
        for line in proc.stderr:
            lines.append(line)
            if " serving " in line:
                found.set()
    threading.Thread(target=read, daemon=True).start()
    try:
        assert found.wait(60), "worker did not start:\n" + "".join(lines)
        yield lines[-1].rsplit(" on ", 1)[1].strip()
    finally:
        proc.terminate()
        proc.wait(10)
