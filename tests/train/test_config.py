import pytest

from worldsim.train.config import ConfigError, TrainConfig, config_from_dict, load_config


def test_toml_sections_become_typed_dataclasses(tmp_path):
    path = tmp_path / "adapt.toml"
    path.write_text('[model]\npreset = "tiny"\n[optim]\nlr = 1\nbetas = [0.8, 0.9]\n[loop]\nsteps = 7\n')
    cfg = load_config(path, stage="adapt")
    assert isinstance(cfg, TrainConfig) and cfg.stage == "adapt"
    assert cfg.model.preset == "tiny" and cfg.loop.steps == 7
    assert cfg.optim.lr == 1.0 and isinstance(cfg.optim.lr, float)      # ints widen to float
    assert cfg.optim.betas == (0.8, 0.9)
    assert cfg.adapt.shift == TrainConfig().adapt.shift                  # untouched sections keep defaults


@pytest.mark.parametrize("text, words", [
    ('[optim]\nlearning_rate = 1e-4\n', ["optim", "learning_rate", "lr"]),
    ('[loop]\nsteps = "many"\n', ["loop.steps", "int", "many"]),
    ('[loop]\nbf16 = 1\n', ["loop.bf16", "bool"]),
    ('[optim]\nbetas = [0.9]\n', ["optim.betas", "2 values"]),
    ('[trainer]\nx = 1\n', ["trainer"]),
    ('optim = 3\n', ["optim", "table"]),
    ('[loop\n', ["not valid TOML"]),
    ('[adapt]\nmotion_weight = -1.0\n', ["adapt.motion_weight", "[0, 100]"]),
    ('[loop]\nprofile_steps = -5\n', ["loop.profile_steps and loop.profile_start must be >= 0"]),
])
def test_bad_configs_name_the_key(tmp_path, text, words):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value)
    for w in words:
        assert w in str(err.value)


def test_unknown_stage_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="stages"):
        config_from_dict({}, stage="pretrain")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "none.toml")


def test_example_configs_load():
    from pathlib import Path
    root = Path(__file__).resolve().parents[2] / "configs"
    files = sorted(root.glob("*.toml"))
    assert files, "configs/*.toml examples are missing"
    for f in files:
        cfg = load_config(f)
        assert cfg.stage == f.stem
