#!/usr/bin/env python3
"""Check the contents of a built sdist and wheel (CI: ``python tools/check_dist.py dist/``).

The sdist must hold every file the tests, the documentation and the build need (its tests pass from the unpacked
archive); the wheel the package with its data, the dcmsend script, the manual page (share/man/man1/dcmsend.1), the
licence, and metadata without pynetdicom as a runtime dependency.  Exits 1 with the list of problems.
"""

from __future__ import annotations

import os
import sys
import tarfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# source-tree folders (and files) whose every file must be in the sdist
SDIST_TREES = ("src", "tests", "docs", "tools", "benchmarks", "scripts")
SDIST_FILES = ("LICENSE", "README.md", "logger.cfg.example", "pyproject.toml", "MANIFEST.in", ".ci/run")
SKIP_PARTS = ("__pycache__", ".egg-info", ".pytest_cache", ".mypy_cache", ".ruff_cache")


def source_files() -> list[str]:
    """The project's files in the source tree, relative to it (generated and cache files left out)."""
    out = list(SDIST_FILES)
    for tree in SDIST_TREES:
        for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, tree)):
            dirnames[:] = [d for d in dirnames if not any(p in d for p in SKIP_PARTS)]
            for name in filenames:
                if name.endswith((".pyc", ".pyo")):
                    continue
                out.append(os.path.relpath(os.path.join(dirpath, name), ROOT).replace(os.sep, "/"))
    return sorted(out)


def check_sdist(path: str) -> list[str]:
    with tarfile.open(path) as tf:
        names = tf.getnames()
        top = names[0].split("/")[0]
        members = {n[len(top) + 1:] for n in names if n.startswith(top + "/")}
        pkg_info = tf.extractfile(f"{top}/PKG-INFO").read().decode()  # type: ignore[union-attr]
    problems = [f"sdist: missing {name}" for name in source_files() if name not in members]
    problems += _check_metadata("sdist", pkg_info)
    return problems


def check_wheel(path: str) -> list[str]:
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        dist_info = next(n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info"))
        data = dist_info.replace(".dist-info", ".data")
        metadata = zf.read(f"{dist_info}/METADATA").decode()
    problems = []
    package = [n for n in source_files() if n.startswith("src/dcmsend/")]
    for name in package:
        if name[len("src/"):] not in names:
            problems.append(f"wheel: missing {name[len('src/'):]}")
    for name in (f"{data}/scripts/dcmsend", f"{data}/data/share/man/man1/dcmsend.1",
                 f"{data}/data/share/doc/dcmsend/logger.cfg.example", f"{dist_info}/licenses/LICENSE"):
        if name not in names:
            problems.append(f"wheel: missing {name}")
    stray = [n for n in names if n.split("/")[0] not in ("dcmsend", dist_info, data)]
    problems += [f"wheel: unexpected {n}" for n in stray]
    problems += _check_metadata("wheel", metadata)
    return problems


def _check_metadata(what: str, text: str) -> list[str]:
    """Core metadata: version (one source: dcmsend.__version__), SPDX licence, no pynetdicom at run time."""
    headers = text.split("\n\n", 1)[0].splitlines()
    problems = []
    expected = {"Name": "dcmsend", "Version": _version(), "License-Expression": "MIT", "License-File": "LICENSE"}
    for key, value in expected.items():
        if f"{key}: {value}" not in headers:
            problems.append(f"{what}: metadata lacks '{key}: {value}'")
    for key in ("Author", "Keywords", "Classifier", "Project-URL"):
        if not any(h.startswith(key + ": ") for h in headers):
            problems.append(f"{what}: metadata lacks {key}")
    for h in headers:
        if h.startswith("Requires-Dist: pynetdicom") and "extra ==" not in h:
            problems.append(f"{what}: pynetdicom is a runtime dependency ({h})")
        if h.startswith("Requires-Dist: hypothesis"):
            problems.append(f"{what}: unused dependency ({h})")
    return problems


def _version() -> str:
    namespace: dict = {}
    with open(os.path.join(ROOT, "src", "dcmsend", "__init__.py"), encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("__version__"):
                exec(line, namespace)
    return namespace["__version__"]


def main(argv: list[str]) -> int:
    folder = argv[1] if len(argv) > 1 else os.path.join(ROOT, "dist")
    files = os.listdir(folder)
    sdists = [f for f in files if f.endswith(".tar.gz")]
    wheels = [f for f in files if f.endswith(".whl")]
    problems = []
    if len(sdists) != 1 or len(wheels) != 1:
        problems.append(f"expected one sdist and one wheel in {folder}, found {sorted(files)}")
    else:
        problems += check_sdist(os.path.join(folder, sdists[0]))
        problems += check_wheel(os.path.join(folder, wheels[0]))
    for p in problems:
        print("check_dist: " + p, file=sys.stderr)
    if not problems:
        print(f"check_dist: {sdists[0]} and {wheels[0]} are complete")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
