"""Downloads the GroupLens archives and unpacks them, verified by SHA-256.

Archive checksums for MovieLens are the ones published with
tensorflow-datasets' movielens builder; GroupLens publishes none for the
HetRec Last.fm archive, so its unpacked files are verified instead.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import pathlib
import shutil
import tempfile
import urllib.request
import zipfile
from collections.abc import Mapping
from typing import BinaryIO

_CHUNK = 1 << 20
_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Archive:
  """Where a dataset comes from and how to check it.

  Attributes:
    url: the zip archive.
    folder: the folder, under the data directory, that holds the unpacked files.
    size: archive size in bytes, or None when unpublished.
    sha256: archive SHA-256 (hex), or None when unpublished.
    file_sha256: unpacked file name -> SHA-256, checked after extraction.
  """
  url: str
  folder: str
  size: int | None = None
  sha256: str | None = None
  file_sha256: Mapping[str, str] = dataclasses.field(default_factory=dict)


ARCHIVES: dict[str, Archive] = {
    "ml-100k": Archive(
        "https://files.grouplens.org/datasets/movielens/ml-100k.zip", "ml-100k",
        4924029, "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229"),
    "ml-1m": Archive(
        "https://files.grouplens.org/datasets/movielens/ml-1m.zip", "ml-1m",
        5917549, "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20"),
    "lastfm": Archive(
        "https://files.grouplens.org/datasets/hetrec2011/hetrec2011-lastfm-2k.zip",
        "hetrec2011-lastfm-2k", file_sha256={
            "artists.dat":
                "c173881362c6b28551368fecb3c0be5a6a30a6cd859e1f5775413dfe46d48648",
            "tags.dat":
                "e95175f259be4c0c47644ae23d66131cd6d5767142a1405000e79f5584691d70",
            "user_artists.dat":
                "001400dc3c7d2667fca6e4ea6dc6acc31a9dd28ad5cd0f74cea988c019934d3b",
            "user_taggedartists.dat":
                "c4a9ffae9ab47a9f9b2f0678ab1f7e5c1db4ca818837d8cddd1f5699c5bbf048",
        }),
}


def _urlopen(url: str) -> BinaryIO:
  """Opens `url` for reading bytes (the hook tests replace to stay offline)."""
  return urllib.request.urlopen(url, timeout=60)  # noqa: S310 (fixed https URLs)


def sha256_file(path: pathlib.Path) -> str:
  """Hex SHA-256 of a file's bytes, read in 1 MiB chunks."""
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    while chunk := f.read(_CHUNK):
      digest.update(chunk)
  return digest.hexdigest()


def _matches(path: pathlib.Path, spec: Archive) -> bool:
  """Whether an existing archive has the published size and checksum."""
  return ((spec.size is None or path.stat().st_size == spec.size)
          and (spec.sha256 is None or sha256_file(path) == spec.sha256))


def _download(spec: Archive, dest: pathlib.Path) -> None:
  """Streams ``spec.url`` into a temporary file, verifies it, renames it to `dest`.

  Raises:
    ValueError: size or SHA-256 differ from `spec` (the partial file is removed).
  """
  _log.info("downloading %s", spec.url)
  fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.",
                                  suffix=".part")
  tmp = pathlib.Path(tmp_name)
  try:
    digest, size = hashlib.sha256(), 0
    with os.fdopen(fd, "wb") as out, _urlopen(spec.url) as response:
      while chunk := response.read(_CHUNK):
        out.write(chunk)
        digest.update(chunk)
        size += len(chunk)
    if spec.size is not None and size != spec.size:
      raise ValueError(f"{spec.url}: downloaded {size} bytes, expected {spec.size}; "
                       "partial file removed")
    if spec.sha256 is not None and digest.hexdigest() != spec.sha256:
      raise ValueError(f"{spec.url}: SHA-256 {digest.hexdigest()} differs from the "
                       f"published {spec.sha256}; file removed")
    os.replace(tmp, dest)
  finally:
    tmp.unlink(missing_ok=True)


def _extract(spec: Archive, archive: pathlib.Path, scratch: pathlib.Path) -> pathlib.Path:
  """Unpacks `archive` into `scratch`; returns the folder holding the files.

  Raises:
    ValueError: not a zip file, or an unpacked file missing / with a SHA-256
      differing from ``spec.file_sha256``.
  """
  try:
    with zipfile.ZipFile(archive) as zf:
      zf.extractall(scratch)  # strips absolute paths and ".." components
  except zipfile.BadZipFile as e:
    raise ValueError(f"{archive}: not a valid zip archive ({e})") from e
  root = scratch / spec.folder if (scratch / spec.folder).is_dir() else scratch
  for name, expected in spec.file_sha256.items():
    if not (root / name).is_file():
      raise ValueError(f"{archive}: {name} is missing from the archive")
    found = sha256_file(root / name)
    if found != expected:
      raise ValueError(f"{archive}: {name} has SHA-256 {found}, expected {expected}")
  return root


def _install(root: pathlib.Path, target: pathlib.Path) -> None:
  """Moves the unpacked files to `target` (one rename when it does not exist yet)."""
  if not target.exists():
    os.replace(root, target)
    return
  for src in sorted(p for p in root.rglob("*") if p.is_file()):
    dst = target / src.relative_to(root)
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dst)


def fetch(name: str, data_dir: str | os.PathLike) -> pathlib.Path:
  """Downloads and unpacks dataset `name` into ``<data_dir>/<folder>``.

  The archive is kept as ``<data_dir>/<archive name>`` and reused when it still
  matches its published size and checksum. Downloads go to a temporary file
  that is renamed only after verification; unpacking goes to a temporary folder
  that is moved into place only after the file checksums pass.

  Args:
    name: ``"ml-100k"``, ``"ml-1m"`` or ``"lastfm"``.
    data_dir: the data directory (created if needed).

  Returns:
    The dataset folder, e.g. ``<data_dir>/ml-100k``.

  Raises:
    ValueError: unknown `name`, or a size / checksum / archive mismatch (the
      bad archive and any partial file are removed).
    OSError: network or file-system errors from the download.
  """
  if name not in ARCHIVES:
    raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(ARCHIVES)}")
  spec = ARCHIVES[name]
  data_dir = pathlib.Path(data_dir)
  data_dir.mkdir(parents=True, exist_ok=True)
  archive = data_dir / spec.url.rsplit("/", 1)[1]
  if not (archive.is_file() and _matches(archive, spec)):
    _download(spec, archive)
  scratch = pathlib.Path(tempfile.mkdtemp(dir=data_dir, prefix=".unpack-"))
  try:
    root = _extract(spec, archive, scratch)
  except ValueError:
    archive.unlink()
    raise
  else:
    _install(root, data_dir / spec.folder)
  finally:
    shutil.rmtree(scratch, ignore_errors=True)
  return data_dir / spec.folder
