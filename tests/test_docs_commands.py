"""The commands in README.md and docs/*.md name commands and options the program has.

Every `worldsim ...` (and `python -m worldsim.train ...`) line of a ```bash block is parsed against
the real argparse tree: each subcommand must exist and each --option must belong to the command it
is given to. A renamed flag or a removed command fails here instead of in a reader's terminal.
"""
import argparse
import functools
import re
import shlex
from pathlib import Path

import pytest

from worldsim.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def bash_commands(text: str) -> list[str]:
    """Shell commands of the page's ```bash blocks, continuation lines joined, split at && ; |."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            out += [part.strip() for part in re.split(r"&&|;|\|(?!\|)", line.split(" #")[0])]
    return [c for c in out if c]


def worldsim_argv(command: str) -> list[str] | None:
    """The arguments after `worldsim` (or `python -m worldsim.train` -> train ...), else None."""
    try:
        words = shlex.split(command, comments=True)
    except ValueError:
        return None
    for i, word in enumerate(words):
        if word == "worldsim":
            return words[i + 1:]
        if word == "-m" and i + 1 < len(words) and words[i + 1] in ("worldsim.train", "worldsim.cli"):
            rest = words[i + 2:]
            return (["train"] + rest) if words[i + 1] == "worldsim.train" else rest
    return None


@functools.lru_cache(maxsize=1)
def full_parser() -> argparse.ArgumentParser:
    """The CLI's parser with the installed plugins' commands (`worldsim ttt ...`), as `main` adds
    them for a command that is not built in; built once (the checks only read it)."""
    from worldsim.plugins import add_plugin_commands
    parser = build_parser()
    add_plugin_commands(next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)))
    return parser


def problems(argv: list[str]) -> list[str]:
    parser, path = full_parser(), ["worldsim"]
    for word in argv:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if word.startswith("-"):
            option = word.split("=", 1)[0]
            if option not in parser._option_string_actions:
                return [f"{' '.join(path)}: no option {option}"]
        elif subs and not any(isinstance(a, argparse._StoreAction) and a.nargs is None and not a.option_strings
                              for a in parser._actions if a.dest != subs[0].dest):
            if word not in subs[0].choices:
                if any(ch in word for ch in "<>[]…") or word.isupper():
                    return []                       # a placeholder (`worldsim train <stage>`)
                return [f"{' '.join(path)}: no command {word!r}"]
            parser, path = subs[0].choices[word], path + [word]
    return []


def cases():
    for page in PAGES:
        for command in bash_commands(page.read_text()):
            argv = worldsim_argv(command)
            if argv:
                yield pytest.param(page.name, argv, id=f"{page.name}: {' '.join(argv)[:60]}")


@pytest.mark.parametrize("page,argv", list(cases()))
def test_a_documented_command_exists_with_its_options(page, argv):
    assert problems(argv) == [], f"{page}: worldsim {' '.join(argv)}"


def test_the_pages_hold_commands_to_check():
    assert len(list(cases())) > 40


def test_the_checker_catches_a_wrong_option_or_command():
    assert problems(["play", "--headless", "--ticks", "5"]) == []
    assert problems(["play", "--no-such-flag"]) == ["worldsim play: no option --no-such-flag"]
    assert problems(["train", "adapt", "--config", "c.toml", "--step", "3"]) == ["worldsim train adapt: no option --step"]
    assert problems(["trian", "adapt"]) == ["worldsim: no command 'trian'"]
    assert problems(["ttt", "classifier", "eval", "DIR", "--no-such-flag"]) == \
        ["worldsim ttt classifier eval: no option --no-such-flag"]            # a plugin's commands too
    assert worldsim_argv("python -m worldsim.train bank --out x") == ["train", "bank", "--out", "x"]
    assert bash_commands("```bash\nworldsim play \\\n  --headless && echo ok  # note\n```\n") == \
        ["worldsim play    --headless", "echo ok"]
