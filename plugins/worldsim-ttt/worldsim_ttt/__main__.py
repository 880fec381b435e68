"""`python -m worldsim_ttt`: what the plugin provides and which backends run on this machine."""
from __future__ import annotations

import json

from .plugin import available_backends, describe

if __name__ == "__main__":
    print(json.dumps({**describe(), "backends_here": available_backends()}, indent=2))
