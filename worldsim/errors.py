"""Errors shared across the package (kept apart from cli.py so `python -m worldsim.cli` sees one class)."""


class WorldsimUserError(Exception):
    """An error caused by the user's input (bad file, bad option): printed without a traceback."""
