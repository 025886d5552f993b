"""dcmsend: a faithful, fast Python clone of DCMTK's dcmsend.

Command line: ``dcmsend [options] peer port dcmfile-in...`` (see ``dcmsend --help``).
Python: :func:`send` runs the same stages as the command line and returns a :class:`Result` (see docs/api.md).
"""

from __future__ import annotations

import sys

from dcmsend import log  # noqa: F401  (dcmsend.log after `import dcmsend`; the command imports it anyway)

__version__ = "0.1.0"  # the one place of the version (pyproject.toml reads it)
# Release date printed in the banner line, like DCMTK's "$dcmtk: dcmsend v3.6.7 2022-04-22 $".
__date__ = "2026-11-25"

__all__ = ["Options", "Result", "send", "send_files", "__version__"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dcmsend.api import Result, send
    from dcmsend.cmdline import Options

    send_files = send
else:
    def __getattr__(name: str):
        """The API (dcmsend.api) is loaded on first use: the command never loads it (start-up time)."""
        if name in ("send", "send_files", "Result", "Options"):
            from dcmsend import api

            return getattr(api, "send" if name == "send_files" else name)
        raise AttributeError(f"module 'dcmsend' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(set(globals()) | {"send", "send_files", "Result", "Options"})


class _Package(type(sys)):  # type: ignore[misc]
    """``dcmsend.send`` is the API function, also once the stage module of the same name (``dcmsend/send.py``, in
    ``sys.modules["dcmsend.send"]``) has been imported, which would otherwise set the package attribute to itself."""

    def __setattr__(self, name: str, value: object) -> None:
        if name == "send" and isinstance(value, type(sys)):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
