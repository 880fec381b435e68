"""`worldsim train bank|encode --out` into a folder that does not exist yet: made up front, not after the work."""
import pytest

from worldsim.train.commands import output_folder
from worldsim.train.data import DataError


def test_the_output_folder_is_made(tmp_path):
    output_folder(str(tmp_path / "data" / "deeper" / "bank.safetensors"))
    assert (tmp_path / "data" / "deeper").is_dir()


def test_an_output_folder_that_cannot_be_made_is_one_line_up_front(tmp_path):
    (tmp_path / "data").write_text("a file, not a folder")
    with pytest.raises(DataError, match="cannot make its folder"):
        output_folder(str(tmp_path / "data" / "bank.safetensors"))
