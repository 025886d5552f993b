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
    config.addinivalue_line("markers", "dcmtk: needs the DCMTK tools (/usr/bin/dcmsend, /usr/bin/storescp)")


@pytest.fixture
def dcmtk_tool():
    def find(name):
        path = "/usr/bin/" + name
        if not os.path.exists(path):
            pytest.skip(f"DCMTK tool {name} is not installed")
        return path
    return find


__all__ = ["requires_dcmtk", "HAVE_DCMTK", "REAL_DCMSEND", "STORESCP", "shutil"]
