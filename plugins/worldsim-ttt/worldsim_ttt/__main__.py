"""`python -m worldsim_ttt`: what the plugin provides and which backends run on this machine."""
from __future__ import annotations

import argparse
import json

from .plugin import available_backends, describe


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="python -m worldsim_ttt", description=__doc__.splitlines()[0].split(": ", 1)[1],
                            epilog="Benchmarks: python -m worldsim_ttt.bench --help (docs/ttt.md).").parse_args(argv)
    print(json.dumps({**describe(), "backends_here": available_backends()}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
