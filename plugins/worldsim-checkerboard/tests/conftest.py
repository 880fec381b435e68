"""Make the plugin importable from a source checkout (no install needed for its tests)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
