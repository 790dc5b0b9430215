"""Bad generator settings are rejected with one clear message (raysym.generate.config, command)."""

import json
from pathlib import Path

import pytest

from raysym.cli import main
from raysym.errors import ConfigError
from raysym.generate.chunks import MANIFEST_NAME, chunk_path, generate, prepare_out_dir
from raysym.generate.config import GeneratorConfig


@pytest.mark.parametrize("kwargs, message", [
    (dict(jets_per_class=0), "jets per class must be a positive integer"),
    (dict(jets_per_class=-5), "jets per class must be a positive integer"),
    (dict(jets_per_class=10, classes=("g", "x")), "unknown jet class 'x'"),
    (dict(jets_per_class=10, classes=()), "no jet classes"),
    (dict(jets_per_class=10, classes=("w", "w")), "given twice"),
    (dict(jets_per_class=10, chunk_size=0), "chunk size must be a positive integer"),
    (dict(jets_per_class=10, seed=-1), "seed must be an integer"),
    (dict(jets_per_class=10, pthat_min=0.0), "pTHatMin"),
])
def test_bad_settings_raise_config_error_with_their_message(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        GeneratorConfig(**kwargs)


def test_class_letters_parse_from_text_case_insensitively():
    assert GeneratorConfig(jets_per_class=1, classes="W, t").classes == ("w", "t")


def test_an_output_directory_that_is_a_file_is_refused(tmp_path):
    path = tmp_path / "not_a_dir"
    path.write_text("")
    with pytest.raises(ConfigError, match="is an existing file"):
        generate(GeneratorConfig(jets_per_class=1), path, use_ray=False)


def test_cli_reports_a_bad_setting_in_one_line_and_exits_2(tmp_path, capsys):
    code = main(["generate", "--out", str(tmp_path), "--jets-per-class", "10", "--classes", "g,y"])
    assert code == 2
    assert capsys.readouterr().err.strip() == (
        "raysym generate: error: unknown jet class 'y'; choose from g,q,w,z,t")


def test_a_folder_whose_earlier_run_left_no_jets_takes_new_settings(tmp_path):
    prepare_out_dir(GeneratorConfig(jets_per_class=5, seed=99), tmp_path)  # a run that died before any chunk
    prepare_out_dir(GeneratorConfig(jets_per_class=5, seed=1), tmp_path)
    assert json.loads((tmp_path / MANIFEST_NAME).read_text())["seed"] == 1
    Path(chunk_path(tmp_path, "g", 1, 0)).write_bytes(b"")  # now the folder holds jets of seed 1
    with pytest.raises(ConfigError, match=r"holds jets generated with other settings \(seed differ"):
        prepare_out_dir(GeneratorConfig(jets_per_class=5, seed=2), tmp_path)


def test_cli_names_an_output_directory_that_cannot_be_created(capsys):
    assert main(["generate", "--out", "/dev/null/jets", "--jets-per-class", "10", "--no-ray"]) == 2
    assert capsys.readouterr().err.strip().startswith(
        "raysym generate: error: output directory /dev/null/jets cannot be created: ")
