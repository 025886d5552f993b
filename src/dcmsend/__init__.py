"""dcmsend: a faithful, fast Python clone of DCMTK's dcmsend."""

__version__ = "0.1.0"
# Release date printed in the banner line, like DCMTK's "$dcmtk: dcmsend v3.6.7 2022-04-22 $".
__date__ = "2026-11-25"
