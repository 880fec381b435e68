"""`worldsim --help` and every subcommand's help say what each option does."""
import argparse

from worldsim.cli import build_parser


def subcommands(parser, path=("worldsim",)):
    """(command path, parser) for the parser and every subcommand below it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from subcommands(sub, path + (name,))


def test_every_option_of_every_command_has_help():
    missing = [f"{' '.join(path)} {action.option_strings[0] if action.option_strings else action.dest}"
               for path, parser in subcommands(build_parser()) for action in parser._actions
               if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction))
               and not (action.help or "").strip()]
    assert missing == []


def test_every_subcommand_says_what_it_does():
    silent = [" ".join(path + (name,)) for path, parser in subcommands(build_parser())
              for action in parser._actions if isinstance(action, argparse._SubParsersAction)
              for name in action.choices
              if not any(c.dest == name and (c.help or "").strip() for c in action._choices_actions)]
    assert silent == []


def test_play_help_lists_the_renderers():
    from worldsim.runtime.registry import available_renderers
    text = dict((path, p) for path, p in subcommands(build_parser()))[("worldsim", "play")].format_help()
    assert all(name in text for name in available_renderers())
