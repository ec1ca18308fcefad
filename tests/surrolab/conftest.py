"""What the command-line tests share: the check that a bad input ended as one line and exit code 2."""
import pytest


def check_one_line_error(code: int, err: str, *needles: str) -> str:
    """Exit code 2, exactly one line on stderr, no traceback, every needle in that line; returns the line."""
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def one_line_error():
    return check_one_line_error
