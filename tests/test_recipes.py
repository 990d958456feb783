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


@pytest.mark.parametrize("scale", ["smoke", "demo", "mini"])
def test_pipeline_names_existing_recipes_and_spec(scale):
    root = Path(__file__).parent.parent
    pipeline = yaml.safe_load((root / "recipes" / scale / "pipeline.yaml").read_text())
    assert set(pipeline["train"]) == {"vae_semantic", "vae_plain", "vocos", "f5_mel", "f5_semantic", "f5_plain"}
    for stage in pipeline["train"].values():
        assert (root / stage["recipe"]).is_file()
    assert (root / pipeline["bench"]["spec"]).is_file()
