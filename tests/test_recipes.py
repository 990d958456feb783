"""Every training recipe parses and validates against its classes (LightningCLI --print_config)."""

from pathlib import Path

import pytest
import yaml

from tts.cli import lightning_cli

RECIPES = sorted(p for p in Path(__file__).parent.parent.glob("recipes/*/*.yaml") if p.name != "pipeline.yaml")


@pytest.mark.parametrize("recipe", RECIPES, ids=[f"{p.parent.name}/{p.name}" for p in RECIPES])
def test_recipe_validates(recipe, capsys):
    with pytest.raises(SystemExit) as exit_info:
        lightning_cli(["fit", "-c", str(recipe), "--print_config"])
    assert exit_info.value.code in (0, None)
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["model"]["class_path"].startswith("tts.")
    assert config["data"]["class_path"].startswith("tts.")


def test_recipe_dit_block_is_checked_key_by_key(tmp_path, capsys):
    """The DiT's hyper-parameters are one typed block (tts.f5.dit.DiTConfig): a misspelt key, or a DiT key
    left at the old flat place, is refused by name."""
    root = Path(__file__).parent.parent
    cfg = yaml.safe_load((root / "recipes" / "smoke" / "f5_mel.yaml").read_text())
    assert set(cfg["model"]["init_args"]["dit"]) >= {"dim", "depth", "heads", "text_dim", "dropout"}
    for name, change in (
        ("misspelt", lambda init: init["dit"].update(depht=3)),
        ("flat", lambda init: init.update(depth=3)),
    ):
        bad = yaml.safe_load((root / "recipes" / "smoke" / "f5_mel.yaml").read_text())
        change(bad["model"]["init_args"])
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(bad))
        with pytest.raises(SystemExit) as exit_info:
            lightning_cli(["fit", "-c", str(path), "--print_config"])
        assert exit_info.value.code not in (0, None)
        err = capsys.readouterr().err
        assert ("depht" if name == "misspelt" else "depth") in err, err
    with pytest.raises(SystemExit) as exit_info:
        lightning_cli(["fit", "-c", str(root / "recipes" / "smoke" / "f5_mel.yaml"), "--print_config",
                       "--model.init_args.dit.null_text=none"])  # fmt: skip
    assert exit_info.value.code not in (0, None)
    assert "null_text" in capsys.readouterr().err


@pytest.mark.parametrize("scale", ["smoke", "demo", "cpu", "mini"])
def test_pipeline_names_existing_recipes_and_spec(scale):
    root = Path(__file__).parent.parent
    pipeline = yaml.safe_load((root / "recipes" / scale / "pipeline.yaml").read_text())
    assert set(pipeline["train"]) == {"vae_semantic", "vae_plain", "vocos", "f5_mel", "f5_semantic", "f5_plain"}
    for stage in pipeline["train"].values():
        assert (root / stage["recipe"]).is_file()
    assert (root / pipeline["bench"]["spec"]).is_file()


def test_cpu_scale_compares_the_aligned_dit_on_three_spaces_with_one_budget():
    """The cpu scale's three TTS runs: the aligned DiT, one size and one wall-clock budget per space, batches of
    the same audio length; the benchmark samples them with oracle durations and reports their paired deltas."""
    root = Path(__file__).parent.parent
    pipeline = yaml.safe_load((root / "recipes" / "cpu" / "pipeline.yaml").read_text())
    recipes = {n: yaml.safe_load((root / pipeline["train"][n]["recipe"]).read_text()) for n in ("f5_mel", "f5_semantic")}
    mel, lat = (recipes[n]["model"]["init_args"] for n in ("f5_mel", "f5_semantic"))
    assert mel["conditioning"] == lat["conditioning"] == "aligned"
    for key in ("dim", "depth", "heads", "text_dim"):
        assert mel["dit"][key] == lat["dit"][key], key
    for key in ("lr", "warmup_steps"):
        assert mel[key] == lat[key], key
    assert recipes["f5_mel"]["trainer"]["max_time"] == recipes["f5_semantic"]["trainer"]["max_time"]
    frames = {n: recipes[n]["data"]["init_args"]["max_frames_per_batch"] for n in recipes}
    assert abs(frames["f5_mel"] / 93.75 - frames["f5_semantic"] / 40.0) < 0.1  # seconds of audio per batch
    spec = yaml.safe_load((root / "eval" / "cpu.yaml").read_text())
    tts_rows = [s for s in spec["systems"] if s["type"] == "tts"]
    assert len(tts_rows) == 3 and all(s["durations"] == "oracle" for s in tts_rows)
    assert spec["max_utterances"] >= 100 and len(spec["seeds"]) >= 2
    assert ["f5_semantic", "f5_mel"] in spec["comparisons"] and ["f5_semantic", "f5_plain"] in spec["comparisons"]
