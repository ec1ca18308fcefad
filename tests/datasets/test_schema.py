import h5py
import numpy as np
import pytest

from surrolab.datasets import schema
from surrolab.datasets.dummy import write_tiny
from surrolab.datasets.splits import SplitSpec, make_splits
from surrolab.errors import SurrolabError


def test_tiny_dataset_is_valid_and_round_trips(tiny_dataset):
    assert schema.validate(tiny_dataset) == []
    with schema.open_dataset(tiny_dataset) as f:
        d = schema.read_description(f)
        assert d.channel_names == ("u", "v")
        fields = schema.read_fields(f, d, [4, 1])  # order of the request is kept
        assert fields.shape == (2, 5, 2, 8, 8)
        np.testing.assert_array_equal(fields[0, :, 0], f["fields/t0_fields/u"][4])
        np.testing.assert_array_equal(fields[1, :, 1], f["fields/t0_fields/v"][1])
        assert schema.read_fields(f, d, []).shape == (0, 5, 2, 8, 8)  # an empty split reads as empty
        back = schema.channels_to_fields(d, fields[0])
        np.testing.assert_array_equal(back["u"], f["fields/t0_fields/u"][4])


def test_fields_are_chunked_per_frame_and_compressed(tiny_dataset):
    with h5py.File(tiny_dataset) as f:
        ds = f["fields/t0_fields/u"]
        assert ds.chunks == (1, 1, 8, 8)
        assert ds.compression == "gzip"
        for key in ("units", "sample_varying", "time_varying"):
            assert key in ds.attrs
        assert f.attrs["schema_version"] == schema.SCHEMA_VERSION
        assert "packages" in f["provenance"].attrs and "git_revision" in f["provenance"].attrs


def test_truncated_file_is_rejected(tiny_dataset):
    data = tiny_dataset.read_bytes()
    tiny_dataset.write_bytes(data[: len(data) // 2])
    problems = schema.validate(tiny_dataset)
    assert problems and "HDF5" in problems[0]
    with pytest.raises(SurrolabError, match="not a valid surrolab dataset"):
        schema.open_dataset(tiny_dataset)


def test_foreign_and_other_version_and_incomplete_files_are_rejected(tmp_path, tiny_dataset):
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.zeros(3)
    assert "not a surrolab dataset" in schema.validate(foreign)[0]
    with h5py.File(tiny_dataset, "a") as f:
        f.attrs["schema_version"] = "0.9"
    assert "not supported" in schema.validate(tiny_dataset)[0]
    other = write_tiny(tmp_path / "other.h5")
    with h5py.File(other, "a") as f:
        f.attrs["complete"] = False
    assert "incomplete" in schema.validate(other)[0]


def test_validator_finds_a_field_of_the_wrong_shape(tmp_path):
    path = write_tiny(tmp_path / "bad.h5")
    with h5py.File(path, "a") as f:
        del f["fields/t0_fields/v"]
        f.create_dataset("fields/t0_fields/v", data=np.zeros((6, 4, 8, 8))).attrs.update(
            units="1", sample_varying=True, time_varying=True)
    assert any("'v' has shape" in p for p in schema.validate(path))


def test_write_refuses_non_finite_fields_and_leaves_no_file(tmp_path):
    from surrolab.datasets.dummy import tiny_description

    d = tiny_description()
    bad = schema.Sample(seed=0, parameters={"speed": 1.0}, wall_time=0.0,
                        fields={"u": np.full((5, 8, 8), np.nan), "v": np.zeros((5, 8, 8))})
    with pytest.raises(SurrolabError, match="non-finite"):
        schema.write_dataset(tmp_path / "x.h5", d, [bad], {})
    assert list(tmp_path.iterdir()) == []


def test_parameter_range_split_holds_out_the_top_of_the_range():
    values = np.linspace(0.0, 1.0, 101)
    splits = make_splits({"a": values}, {"a": (0.0, 1.0)}, SplitSpec(heldout_fraction=0.2))
    held = splits["test_heldout"]
    assert np.all(values[held] >= 0.8) and np.all(np.delete(values, held) < 0.8)
    together = np.concatenate([splits[k] for k in ("train", "val", "test", "test_heldout")])
    assert sorted(together) == list(range(101))  # a partition: disjoint and complete
    assert len(splits["val"]) == len(splits["test"]) == 8


def test_small_datasets_keep_one_validation_and_one_test_sample():
    values = np.linspace(0.0, 1.0, 8)
    splits = make_splits({"a": values}, {"a": (0.0, 1.0)}, SplitSpec())
    assert len(splits["val"]) == len(splits["test"]) == 1 and len(splits["train"]) >= 3
