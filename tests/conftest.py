import pytest

from surrolab.datasets.dummy import write_tiny


@pytest.fixture
def tiny_dataset(tmp_path):
    """A tiny conforming dataset (no solver): 6 analytic travelling-wave samples on an 8 x 8 grid."""
    return write_tiny(tmp_path / "tiny.h5")


@pytest.fixture
def tiny_particles(tmp_path):
    """A tiny particle dataset (no solver): analytic particle sets of different sizes."""
    from surrolab.datasets.dummy import write_tiny_particles

    return write_tiny_particles(tmp_path / "tiny_particles.h5")
