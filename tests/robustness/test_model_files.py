"""A model file is data, never code (issue 24, finding 1): an F5 export whose space names a VAE folder, a VAE
checkpoint given as ``--space latent:vae=X.ckpt``, a Vocos folder's ``config.yaml`` and a checkpoint given to
``tts fit --ckpt_path`` may build only the allowlisted classes; a ``class_path`` such as ``os.system`` is
refused before anything is imported or called, with the file and key named, and the marker file the payload
would create never appears."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from robust_helpers import good_rows, run, synth_argv, write_list, write_wav

from tts.config import MODEL_FILE_CLASSES, ModelFileError, check_checkpoint_classes, instantiate

REPO = Path(__file__).parents[2]


def payload(marker: Path) -> dict:
    return {"class_path": "os.system", "init_args": {"command": f"touch {marker}"}}


def _evil_vae_dir(root: Path, marker: Path) -> Path:
    from safetensors.torch import save_file

    root.mkdir(parents=True)
    save_file({"x": torch.zeros(1)}, root / "model.safetensors")
    decoder = {"class_path": "tts.vae.model.VocosDecoder", "init_args": {}}
    (root / "config.json").write_text(json.dumps({"encoder": payload(marker), "decoder": decoder}))
    return root


def _synth(model: Path, tmp_path: Path, capsys) -> tuple[int, str]:
    lst = write_list(tmp_path / "list.jsonl", good_rows(write_wav(tmp_path / "ref.wav")))
    return run(synth_argv(model, lst, tmp_path / "out"), capsys)


def test_f5_export_whose_space_names_an_evil_vae_folder_runs_nothing(model_copy, tmp_path, capsys):
    marker = tmp_path / "MARKER"
    vae = _evil_vae_dir(tmp_path / "evil_vae", marker)
    config = json.loads((model_copy / "config.json").read_text())
    (model_copy / "config.json").write_text(json.dumps({**config, "space": f"latent:vae={vae}"}))
    rc, text = _synth(model_copy, tmp_path, capsys)
    assert not marker.exists()
    assert rc != 0 and f"{vae / 'config.json'}: encoder" in text and "'os.system'" in text
    assert "not one a model file may build" in text and "Traceback" not in text


def test_vocos_folder_config_yaml_with_a_foreign_class_runs_nothing(model_copy, tmp_path, capsys):
    marker = tmp_path / "MARKER"
    config = json.loads((model_copy / "config.json").read_text())
    shared = Path(config["space"].split("vocos=", 1)[1])  # the session's model's Vocos: copied, never edited
    vocos = Path(shutil.copytree(shared, tmp_path / "vocos_copy"))
    (model_copy / "config.json").write_text(json.dumps({**config, "space": f"mel:vocos={vocos}"}))
    cfg = yaml.safe_load((vocos / "config.yaml").read_text())
    cfg["feature_extractor"] = payload(marker)
    (vocos / "config.yaml").write_text(yaml.safe_dump(cfg))
    rc, text = _synth(model_copy, tmp_path, capsys)
    assert not marker.exists()
    assert rc != 0 and f"{vocos / 'config.yaml'}: feature_extractor" in text and "'os.system'" in text


def test_weights_only_vae_checkpoint_as_a_space_runs_nothing(tiny_corpus, tmp_path, capsys):
    marker = tmp_path / "MARKER"
    ckpt = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "global_step": 0,
                "hyper_parameters": {"encoder": payload(marker), "decoder": payload(marker)}}, ckpt)  # fmt: skip
    rc, text = run(["extract", "features", "--space", f"latent:vae={ckpt}",
                    "--cuts", str(tiny_corpus / "cuts_dev.jsonl.gz"), "--out", str(tmp_path / "feats")], capsys)  # fmt: skip
    assert not marker.exists()
    assert rc != 0 and f"{ckpt}: encoder" in text and "'os.system'" in text


def test_fit_ckpt_path_naming_a_foreign_class_runs_nothing(tiny_corpus, tmp_path, capsys):
    marker = tmp_path / "MARKER"
    ckpt = tmp_path / "evil.ckpt"
    hparams = {"_class_path": "os.system", "command": f"touch {marker}"}
    torch.save({"state_dict": {}, "global_step": 0, "hyper_parameters": hparams}, ckpt)
    rc, text = run(["fit", "--run_dir", str(tmp_path), "-c", str(REPO / "recipes/vocos/base.yaml"), "-c", str(REPO / "recipes/smoke/vocos.yaml"),
                    f"--data.init_args.train_cuts={tiny_corpus / 'cuts_train.jsonl.gz'}",
                    f"--data.init_args.val_cuts={tiny_corpus / 'cuts_dev.jsonl.gz'}",
                    f"--trainer.default_root_dir={tmp_path}", f"--ckpt_path={ckpt}"], capsys)  # fmt: skip
    assert not marker.exists()
    assert rc == 2 and f"{ckpt}: hyper_parameters._class_path" in text and "'os.system'" in text


def test_fit_ckpt_path_that_does_not_exist_is_one_line(tiny_corpus, tmp_path, capsys):
    rc, text = run(["fit", "--run_dir", str(tmp_path), "-c", str(REPO / "recipes/vocos/base.yaml"), "-c", str(REPO / "recipes/smoke/vocos.yaml"),
                    f"--data.init_args.train_cuts={tiny_corpus / 'cuts_train.jsonl.gz'}",
                    f"--data.init_args.val_cuts={tiny_corpus / 'cuts_dev.jsonl.gz'}",
                    f"--trainer.default_root_dir={tmp_path}", f"--ckpt_path={tmp_path / 'nope.ckpt'}"], capsys)  # fmt: skip
    assert rc == 2 and f"--ckpt_path {tmp_path / 'nope.ckpt'}: no such file" in text and "Traceback" not in text


@pytest.mark.parametrize("class_path", [
    "os.system", "subprocess.Popen", "builtins.eval", "tts.synth.main", "tts.vae.model.torch.nn.Linear",
    "vocos.pretrained.Vocos", "tts.vae.model.nn.Module", 42, None,
])  # fmt: skip
def test_only_allowlisted_classes_are_built_from_a_model_file(class_path):
    with pytest.raises(ModelFileError, match="config.json: decoder: class_path"):
        instantiate({"class_path": class_path, "init_args": {}}, "config.json: decoder", MODEL_FILE_CLASSES)


def test_checkpoint_hyper_parameters_may_name_the_projects_own_networks_only():
    ok = {"_class_path": "tts.vae.module.VAEModule",
          "encoder": {"class_path": "tts.vae.model.Encoder", "init_args": {}},
          "loss": {"class_path": "tts.vae.loss.VAELoss", "init_args": {}}}  # fmt: skip
    check_checkpoint_classes(ok, "run.ckpt")
    for bad, key in (({"_class_path": "tts.synth.main"}, "_class_path"),  # a function of ours, not a network
                     ({"loss": {"class_path": "tts.config.ModelFileError"}}, "loss.class_path"),  # not an nn.Module
                     ({"x": [{"class_path": "torch.nn.Linear"}]}, "x[0].class_path")):  # fmt: skip
        with pytest.raises(ModelFileError) as e:
            check_checkpoint_classes(bad, "run.ckpt")
        assert str(e.value).startswith(f"run.ckpt: hyper_parameters.{key}: class_path")
