"""`python -m worldsim.train <stage | bank | throughput> ...`: the train commands alone.

The same commands as `worldsim train ...`, without loading the rest of the command line (the
runtime and display need pyzmq, pygame, moderngl): for training machines that have only torch.

    torchrun --nproc_per_node=2 -m worldsim.train adapt --config configs/adapt.toml
"""
from __future__ import annotations

import argparse
import sys

from ..errors import WorldsimUserError
from .commands import register


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worldsim.train")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["train", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args) or 0)
    except WorldsimUserError as err:
        print(f"worldsim: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
