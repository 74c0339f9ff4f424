"""The identity of the code a run was trained and evaluated with.

A run's numbers depend on the library (``jaxrec/``) and the experiment configs
(``experiments/configs/``); :func:`code_identity` fingerprints exactly those
files, so runs made with different code can be told apart (and kept out of a
pooled table) even when nobody committed in between.
"""

from __future__ import annotations

import hashlib
import pathlib
import platform
import subprocess
from importlib import metadata
from typing import Any

# Folders (relative to the repository root) whose files make up the code identity.
CODE_PATHS = ("jaxrec", "experiments/configs")
# Packages whose versions are recorded next to the code hash.
PACKAGES = ("jaxrec", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy")


def _git(root: pathlib.Path, *args: str) -> str | None:
  """stdout of ``git -C root *args``, or None when git is missing or fails."""
  try:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True,
                          text=True, check=True).stdout
  except (OSError, subprocess.CalledProcessError):
    return None


def _version(package: str) -> str | None:
  try:
    return metadata.version(package)
  except metadata.PackageNotFoundError:
    return None


def code_identity(root: str | pathlib.Path | None = None) -> dict[str, Any]:
  """Fingerprint of the code under ``root``: content hash, dirty flag, commit, versions.

  The files are those git tracks or would track (tracked plus untracked, not
  ignored) under ``CODE_PATHS`` of the repository root ``root``; with ``(p_i, c_i)``
  their paths and contents sorted by path,
  ``code_hash = sha256(concat_i p_i + "\\0" + sha256(c_i) + "\\n")`` (a tracked file
  missing from the working tree enters with the digest ``"deleted"``). It is the
  working tree's content, so an edit changes it whether committed or not.
  ``dirty`` is whether any of those files differs from ``HEAD`` (modified, staged,
  deleted or untracked).

  Args:
    root: the repository root; None means the folder holding the ``jaxrec``
      package (the checkout when run from one).

  Returns:
    ``{"code_hash": str, "dirty": bool, "git_commit": str, "num_files": int,
    "paths": list of CODE_PATHS, "versions": {package: version or None},
    "python": str}``. ``code_hash``, ``dirty``, ``git_commit`` and ``num_files`` are
    None when ``root`` is not the top of a git checkout (e.g. a pip-installed
    package), or git is not installed.
  """
  root = pathlib.Path(root if root is not None else pathlib.Path(__file__).parents[1])
  identity = {"code_hash": None, "dirty": None, "git_commit": None, "num_files": None,
              "paths": list(CODE_PATHS), "versions": {p: _version(p) for p in PACKAGES},
              "python": platform.python_version()}
  top = _git(root, "rev-parse", "--show-toplevel")
  if top is None or pathlib.Path(top.strip()).resolve() != root.resolve():
    return identity
  listed = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard",
                "--", *CODE_PATHS)
  status = _git(root, "status", "--porcelain", "-z", "--untracked-files=all", "--",
                *CODE_PATHS)
  if listed is None or status is None:
    return identity
  paths = sorted(set(p for p in listed.split("\0") if p))
  digest = hashlib.sha256()
  for path in paths:
    file = root / path
    content = hashlib.sha256(file.read_bytes()).hexdigest() if file.is_file() else "deleted"
    digest.update(f"{path}\0{content}\n".encode())
  commit = _git(root, "rev-parse", "HEAD")
  identity.update(code_hash=digest.hexdigest(), dirty=bool(status),
                  git_commit=commit.strip() if commit else None, num_files=len(paths))
  return identity
