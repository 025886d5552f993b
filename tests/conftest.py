import os
import shutil
import sys

import pytest

HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)

REAL_DCMSEND = "/usr/bin/dcmsend"
STORESCP = "/usr/bin/storescp"  # pynetdicom installs its own `storescp` script: always use DCMTK's by path

HAVE_DCMTK = os.path.exists(REAL_DCMSEND) and os.path.exists(STORESCP)
requires_dcmtk = pytest.mark.skipif(not HAVE_DCMTK, reason="DCMTK (apt-get install dcmtk) is not installed")


def pytest_configure(config):
    # (also registered in pyproject.toml, for a run from elsewhere)
    config.addinivalue_line("markers", "side: a side-by-side test against DCMTK's dcmsend (fast subset: -m 'not side')")


# what a test calls when it runs DCMTK's dcmsend beside ours (tests/harness.py)
_SIDE_CALLS = ("compare(", "compare_scp(", "run_side(", "REAL_DCMSEND")


def _is_side_by_side(item) -> bool:
    if os.path.basename(str(item.fspath)).startswith("test_side_"):
        return True
    function = getattr(item, "function", None)
    if function is None:
        return False
    import inspect

    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return False
    return any(call in source for call in _SIDE_CALLS)


def pytest_collection_modifyitems(config, items):
    """Every side-by-side test carries the ``side`` marker: the tests in test_side_*.py and any other test that runs
    DCMTK's dcmsend beside ours through the harness."""
    for item in items:
        if _is_side_by_side(item):
            item.add_marker(pytest.mark.side)


@pytest.fixture
def dcmtk_tool():
    def find(name):
        path = "/usr/bin/" + name
        if not os.path.exists(path):
            pytest.skip(f"DCMTK tool {name} is not installed")
        return path
    return find


__all__ = ["requires_dcmtk", "HAVE_DCMTK", "REAL_DCMSEND", "STORESCP", "shutil"]
