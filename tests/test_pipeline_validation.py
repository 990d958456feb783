"""`tts demo --pipeline FILE`: a bad pipeline YAML is refused before any stage runs, naming the file and key."""

import copy

import pytest
import yaml

from tts.demo import REPO, SCALES, PipelineError, main, validate_pipeline


def _cpu() -> dict:
    return yaml.safe_load((REPO / "recipes" / "cpu" / "pipeline.yaml").read_text())


@pytest.mark.parametrize("scale", SCALES)
def test_every_scale_pipeline_validates(scale):
    path = REPO / "recipes" / scale / "pipeline.yaml"
    validate_pipeline(yaml.safe_load(path.read_text()), str(path))


@pytest.mark.parametrize(("edit", "match"), [
    (lambda p: p["corpus"].update(hours=0), r"corpus.hours: 0 is outside \(0.0, 100.0\]"),
    (lambda p: p["corpus"].update(natural_share=1.5), r"corpus.natural_share: 1.5 is outside"),
    (lambda p: p["corpus"].update(test_share=0.9), r"corpus.test_share: 0.9 is outside \[0.01, 0.5\]"),
    (lambda p: p["corpus"].update(seed=-1), r"corpus.seed: -1 is not an integer"),
    (lambda p: p["corpus"].update(test_sentences="data/nope.txt"), r"corpus.test_sentences: 'data/nope.txt' is not a file"),
    (lambda p: p["corpus"].update(hour=1), r"corpus.hour: unknown key"),
    (lambda p: p.update(trian={}), r"trian: unknown key"),
    (lambda p: p.pop("bench"), r"bench: missing"),
    (lambda p: p["train"].pop("vocos"), r"train.vocos: missing"),
    (lambda p: p["train"]["f5_mel"].update(recipe=["recipes/f5/base.yaml", "recipes/f5/nope.yaml"]),
     r"train.f5_mel.recipe\[1\]: 'recipes/f5/nope.yaml' is not a file"),
    (lambda p: p["train"]["f5_mel"].update(args="--trainer.max_steps=3"), r"train.f5_mel.args: a list"),
    (lambda p: p.update(parallel_vaes="yes"), r"parallel_vaes: true or false"),
    (lambda p: p.update(train_env=["OMP_WAIT_POLICY=PASSIVE"]), r"train_env: a mapping"),
    (lambda p: p.update(train_env={"omp wait": "PASSIVE"}), r"train_env.omp wait: not an environment variable"),
    (lambda p: p.update(train_env={"OMP_NUM_THREADS": 2}), r"train_env.OMP_NUM_THREADS: 2 is not a string"),
])  # fmt: skip
def test_a_bad_key_is_named_with_the_file(edit, match):
    p = copy.deepcopy(_cpu())
    edit(p)
    with pytest.raises(PipelineError, match="my.yaml: " + match):
        validate_pipeline(p, "my.yaml")


def test_tts_demo_refuses_a_bad_pipeline_before_any_work(tmp_path, capsys):
    p = _cpu()
    p["corpus"]["hours"] = -1
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(p))
    with pytest.raises(SystemExit) as e:
        main(["--scale", "cpu", "--pipeline", str(f), "--out", str(tmp_path / "run")])
    assert e.value.code == 2
    assert f"{f}: corpus.hours: -1 is outside" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_train_env_reaches_every_fit(tmp_path, monkeypatch):
    """The pipeline's ``train_env`` is in the environment of the ``tts fit`` subprocess (and the caller's
    own variables stay)."""
    import subprocess

    import tts.demo as demo

    seen = {}

    def fake_run(cmd, stdout, stderr, cwd, env):
        seen.update(env)
        last = tmp_path / "runs" / "x" / "tb" / "version_0" / "checkpoints" / "last.ckpt"
        last.parent.mkdir(parents=True, exist_ok=True)
        last.write_bytes(b"")
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(demo.subprocess, "run", fake_run)
    monkeypatch.setenv("TTS_PROBE", "kept")
    demo.fit("x", ["recipes/vocos/base.yaml", "recipes/demo/vocos.yaml"], [], tmp_path, threads=1, env={"OMP_WAIT_POLICY": "PASSIVE"})
    assert seen["OMP_WAIT_POLICY"] == "PASSIVE" and seen["TTS_PROBE"] == "kept" and seen["OMP_NUM_THREADS"] == "1"
