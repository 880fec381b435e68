"""Reading the TOML files of controls (bindings, input scripts) with errors that name the file."""
from __future__ import annotations

import tomllib
from pathlib import Path


def read_text(path: str | Path, error: type[Exception], what: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as e:
        raise error(f"cannot read {what} {path}: {e.strerror}") from None


def parse(text: str, source: str, error: type[Exception]) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise error(f"{source}: not valid TOML: {e}") from None
