"""`worldsim bench model --profile`: where a step's time goes, as a table file and the JSON's top rows."""
import json


def test_bench_model_profile_names_the_step_s_matmuls(tmp_path, capsys):
    from worldsim.bench.model import main
    table = tmp_path / "profile.txt"
    assert main(["--preset", "tiny", "--steps", "2", "--profile", str(table), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = out["profile"]
    assert out["profile_file"] == str(table) and "Self CPU" in table.read_text()
    assert 1 <= len(rows) <= 12
    assert [r["ms_per_step"] for r in rows] == sorted((r["ms_per_step"] for r in rows), reverse=True)
    assert 0 < sum(r["share"] for r in rows) <= 1.0001
    names = " ".join(r["name"] for r in rows)
    assert "mm" in names and "attention" in names               # the linears and the attention are in the step
