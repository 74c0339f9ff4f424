"""On-disk cache of fitted, tuned baselines, so one (dataset, seed) is fit once.

An entry is ``<cache_dir>/<key>.pkl``: a pickle of whatever the fitting
function returned, written to a temporary file and moved into place with
``os.replace`` (a reader never sees a half-written entry). The key is the hex
sha256 of a JSON description of everything the fit depends on (see
:func:`cache_key`), including :func:`source_hash` of ``jaxrec/baselines/``,
so editing a baseline invalidates its entries. Only read entries you wrote:
unpickling runs code.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import pathlib
import pickle
import types
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np

from jaxrec._io import atomic_write

logger = logging.getLogger(__name__)

# The environment variable of every jaxrec on-disk cache (as jaxrec.text.cache;
# not imported from there, which needs the optional text dependencies).
CACHE_ENV = "JAXREC_CACHE_DIR"

T = TypeVar("T")


def default_cache_dir() -> pathlib.Path:
  """``$JAXREC_CACHE_DIR/baselines`` when set, else ``~/.cache/jaxrec/baselines``."""
  root = os.environ.get(CACHE_ENV) or "~/.cache/jaxrec"
  return pathlib.Path(root).expanduser() / "baselines"


def source_hash(*functions: Callable | types.ModuleType) -> str:
  """Hex sha256 of the ``.py`` files of ``jaxrec/baselines/`` (names and bytes) and
  of the source code of ``functions`` (functions or whole modules: the caller's
  fitting code and what builds and scores its episodes)."""
  digest = hashlib.sha256()
  for path in sorted(pathlib.Path(__file__).parent.glob("*.py")):
    digest.update(path.name.encode())
    digest.update(path.read_bytes())
  for function in functions:
    digest.update(inspect.getsource(function).encode())
  return digest.hexdigest()


def array_hash(*arrays: np.ndarray) -> str:
  """Hex sha256 of the arrays' dtypes, shapes and bytes, in order."""
  digest = hashlib.sha256()
  for array in arrays:
    array = np.ascontiguousarray(array)
    digest.update(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.tobytes())
  return digest.hexdigest()


def cache_key(parts: Mapping[str, Any]) -> str:
  """Hex sha256 of ``parts`` as canonical JSON (sorted keys; non-JSON values
  such as classes by their ``repr``)."""
  text = json.dumps(parts, sort_keys=True, default=repr)
  return hashlib.sha256(text.encode()).hexdigest()


def load_or_fit(key: str, fit: Callable[[], T],
                cache_dir: str | pathlib.Path | None = None) -> T:
  """The value cached under ``key``, or ``fit()`` written there.

  Args:
    key: the entry's name (e.g. :func:`cache_key`), a file-name-safe string.
    fit: computes the value on a miss; it must be picklable.
    cache_dir: directory of the entries; None uses :func:`default_cache_dir`.

  Returns:
    The value. An unreadable entry is logged, recomputed and overwritten.

  Raises:
    ValueError: when ``key`` is empty or holds a path separator; as ``fit``.
  """
  if not key or "/" in key or os.sep in key:
    raise ValueError(f"cache key {key!r} must be a non-empty file name")
  directory = default_cache_dir() if cache_dir is None else pathlib.Path(cache_dir)
  path = directory / f"{key}.pkl"
  if path.is_file():
    try:
      with path.open("rb") as f:
        value = pickle.load(f)
      logger.info("baseline cache hit: %s", path)
      return value
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError) as e:
      logger.warning("unreadable baseline cache %s (%s): refitting", path, e)
  value = fit()
  directory.mkdir(parents=True, exist_ok=True)
  atomic_write(path, lambda f: pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL))
  logger.info("baseline cache written: %s", path)
  return value
