"""`worldsim` command line: play | serve | keys | replay | world | bench | train | eval | controls | plugins.

Each subsystem owns its commands in a `commands` module with `register(subparsers)`;
this file only assembles them, so adding a command never touches the others.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from .errors import WorldsimUserError

# Subsystems that contribute commands. A module that does not exist yet is skipped;
# any other import error is a bug and is raised.
COMMAND_MODULES = [
    "worldsim.runtime.commands",   # play, serve, replay
    "worldsim.worlds.commands",    # world render | export
    "worldsim.bench.commands",     # bench runtime | model | world
    "worldsim.train.commands",     # train vae | base | adapt | distill | adversarial
    "worldsim.eval.commands",      # eval
    "worldsim.controls.commands",  # controls list | check | bindings | script | measure-scales
    "worldsim.plugins",            # plugins list | check-renderer
]
# Commands of installed plugins (entry-point group `worldsim.plugins`, docs/plugins.md) are added
# only when the command word is not a built-in one, so a built-in command imports no plugin.


def register_commands(sub, module_names: list[str]) -> None:
    """Let each module add its subcommands; a module that does not exist (yet) is skipped."""
    for name in module_names:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:
                continue
            raise
        module.register(sub)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The built-in commands, plus the plugins' commands when `argv`'s command is not built in."""
    parser = argparse.ArgumentParser(prog="worldsim", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    register_commands(sub, COMMAND_MODULES)
    if argv and not argv[0].startswith("-") and argv[0] not in sub.choices:
        from .plugins import add_plugin_commands
        failures = add_plugin_commands(sub)
        if argv[0] not in sub.choices and failures:    # perhaps the broken plugin had it: say why
            raise WorldsimUserError(f"unknown command {argv[0]!r}; " + "; ".join(failures))
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")   # no banner on every start
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser(argv).parse_args(argv)
    except WorldsimUserError as err:
        print(f"worldsim: error: {err}", file=sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:                       # `worldsim ... | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except WorldsimUserError as err:
        print(f"worldsim: error: {err}", file=sys.stderr)
        return 2



if __name__ == "__main__":
    sys.exit(main())
