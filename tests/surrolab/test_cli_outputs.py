"""Every verb's output path is checked before any work: a path of the wrong kind, one below a file, or one in
a folder we may not write fail in one line naming the path, and nothing is written; missing folders are
made (mkdir -p)."""
import os

import pytest

from surrolab.cli import main
from surrolab.datasets.schema import validate


def argv(verb: str, out, tmp_path, data) -> list[str]:
    """The verb's command line writing to `out`; every one would fail or finish within seconds."""
    return {
        "generate": ["generate", "heat", "--samples", "2", "--resolution", "8", "--set", "n_frames=3",
                     "--out", str(out)],
        "train": ["train", "fno", "--data", str(data), "--epochs", "1", "--out", str(out)],
        "compare": ["compare", str(tmp_path / "no_run"), "--data", str(data), "--out", str(out)],
        "evaluate": ["evaluate", str(tmp_path / "no_run"), "--data", str(data), "--out", str(out)],
        "export": ["export", str(data), "--out", str(out)],
        "demo": ["demo", "--quick", "--out", str(out)],
        "report": ["report", "cfd", "--runs-root", str(tmp_path / "runs"), "--data-root", str(tmp_path / "data"),
                   "--out", str(out)],
    }[verb]


FOLDER_VERBS = ["train", "compare", "evaluate", "export", "demo", "report"]
VERBS = ["generate", *FOLDER_VERBS]


def files_under(path) -> set:
    return {p for p in path.rglob("*")}


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "a_file"
    path.write_text("not a folder")
    return path


@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize("below", ["out", "a/b/out"])
def test_an_output_below_a_file_fails_naming_both(verb, below, tmp_path, tiny_dataset, a_file, capsys,
                                                  one_line_error):
    out = a_file / below
    before = files_under(tmp_path)
    code = main(argv(verb, out, tmp_path, tiny_dataset))
    one_line_error(code, capsys.readouterr().err, f"--out '{out}' cannot be written",
                   f"'{a_file}' is a file, not a folder")
    assert files_under(tmp_path) == before


@pytest.mark.parametrize("verb", VERBS)
def test_an_output_of_the_wrong_kind_fails(verb, tmp_path, tiny_dataset, a_file, capsys, one_line_error):
    if verb == "generate":  # a file is asked for: give it a folder
        out, needle = tmp_path / "folder.h5", "is a folder; give a path for a file"
        out.mkdir()
    else:
        out, needle = a_file, "is a file; give a path for a folder"
    before = files_under(tmp_path)
    code = main(argv(verb, out, tmp_path, tiny_dataset))
    one_line_error(code, capsys.readouterr().err, f"--out '{out}' {needle}")
    assert files_under(tmp_path) == before and a_file.read_text() == "not a folder"


def test_generate_refuses_a_folder_where_its_paraview_sidecar_goes(tmp_path, capsys, one_line_error):
    (tmp_path / "heat.xdmf").mkdir()
    code = main(argv("generate", tmp_path / "heat.h5", tmp_path, None))
    one_line_error(code, capsys.readouterr().err, f"'{tmp_path / 'heat.xdmf'}' is a folder")
    assert not (tmp_path / "heat.h5").exists()


@pytest.mark.parametrize("verb", VERBS)
def test_an_output_in_a_folder_we_may_not_write_fails(verb, tmp_path, tiny_dataset, monkeypatch, capsys,
                                                      one_line_error):
    # as root every folder is writable, so the test takes the permission away from tmp_path alone
    locked, access = tmp_path / "locked", os.access
    locked.mkdir()
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if str(path) == str(locked)
                        else access(path, mode, **kw))
    out = locked / "new" / "out"
    code = main(argv(verb, out, tmp_path, tiny_dataset))
    one_line_error(code, capsys.readouterr().err, f"--out '{out}'", f"no permission to write in '{locked}'")
    assert not list(locked.iterdir())


def test_missing_folders_on_the_way_are_made(tmp_path, tiny_dataset, capsys):
    out = tmp_path / "no" / "such" / "dir" / "heat.h5"
    assert main(argv("generate", out, tmp_path, tiny_dataset)) == 0
    assert validate(out) == [] and out.with_suffix(".xdmf").exists()
    viz = tmp_path / "not" / "yet" / "viz"
    assert main(argv("export", viz, tmp_path, tiny_dataset)) == 0
    assert (viz / "tiny_sample0000.xdmf").exists()
