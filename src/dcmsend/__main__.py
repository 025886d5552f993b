"""python -m dcmsend: the dcmsend command."""
import sys

# The command writes its package's bytecode cache also where PYTHONDONTWRITEBYTECODE is set (many container images
# set it): without the cache every start compiles the package from source again (~50 ms, three times the start-up
# of an editable install; pip precompiles a regular install). The library (import dcmsend) leaves it alone.
sys.dont_write_bytecode = False

from dcmsend.cli import run  # noqa: E402

run()
