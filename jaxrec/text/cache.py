"""On-disk cache of text embeddings, keyed by model and texts.

An entry is ``<cache_dir>/<model>-<texts>.npy`` (``float32[N, d]``) plus a JSON
manifest ``<model>-<texts>.json`` with the full ``model_hash``, ``text_hash``,
``count`` and ``dim`` (``<model>``/``<texts>`` are 16-hex-digit prefixes of the
hashes). Both files are written to a temporary file and moved into place with
``os.replace``; the manifest is written last, so an entry without a valid
manifest is never used. On a read, the manifest must match the requested
hashes and the array must have the recorded shape, float32 dtype and finite
values; anything else is treated as stale and recomputed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pathlib
from typing import Protocol, Sequence

import numpy as np

from jaxrec._io import atomic_write
from jaxrec.text import loading
from jaxrec.text.encoder import Encoder, as_text_list, load_encoder

logger = logging.getLogger(__name__)

CACHE_ENV = "JAXREC_CACHE_DIR"


class TextEncoder(Protocol):
  """What the cache needs from an encoder (e.g. :class:`jaxrec.text.Encoder`)."""

  model_hash: str

  def encode(self, texts: Sequence[str], *, batch_size: int = 64,
             progress: bool = True) -> np.ndarray:
    ...


def default_cache_dir() -> pathlib.Path:
  """``$JAXREC_CACHE_DIR/text`` when set, else ``~/.cache/jaxrec/text``."""
  root = os.environ.get(CACHE_ENV) or "~/.cache/jaxrec"
  return pathlib.Path(root).expanduser() / "text"


def text_hash(texts: Sequence[str]) -> str:
  """Hex sha256 of the ordered texts (each as 8-byte length + UTF-8 bytes).

  Raises:
    ValueError: as :func:`jaxrec.text.encoder.as_text_list`.
  """
  digest = hashlib.sha256()
  for text in as_text_list(texts):
    data = text.encode("utf-8")
    digest.update(len(data).to_bytes(8, "little"))
    digest.update(data)
  return digest.hexdigest()


def _read_entry(array_path: pathlib.Path, manifest_path: pathlib.Path,
                expected: dict) -> np.ndarray | None:
  """The cached array when the stored manifest matches ``expected`` (model_hash,
  text_hash, count) and the array is finite float32 ``[count, dim]``, else None."""
  try:
    stored = json.loads(manifest_path.read_text(encoding="utf-8"))
    if not isinstance(stored, dict) or any(
        stored.get(key) != value for key, value in expected.items()):
      logger.warning("stale text-embedding cache %s: manifest %s, expected %s",
                     manifest_path, stored, expected)
      return None
    array = np.load(array_path, allow_pickle=False)
  except (OSError, ValueError) as e:
    logger.warning("unreadable text-embedding cache %s: %s", array_path, e)
    return None
  if (array.dtype != np.float32 or array.shape != (stored["count"], stored.get("dim"))
      or not np.all(np.isfinite(array))):
    logger.warning("stale text-embedding cache %s: %s %s does not match %s",
                   array_path, array.dtype, array.shape, stored)
    return None
  return array


def cached_embeddings(encoder: TextEncoder, texts: Sequence[str],
                      cache_dir: str | pathlib.Path, *, batch_size: int = 64,
                      progress: bool = True) -> np.ndarray:
  """``encoder.encode(texts)``, read from / written to ``cache_dir``.

  Args:
    encoder: anything with ``model_hash`` and ``encode`` (see :class:`TextEncoder`).
    texts: ``N`` strings; their order is part of the key.
    cache_dir: directory of cache entries (created when absent).
    batch_size, progress: passed to ``encoder.encode`` on a miss.

  Returns:
    ``float32[N, d]``.

  Raises:
    ValueError: as ``text_hash`` and ``encoder.encode``, or when the encoder
      returns an array that is not ``[N, d]``.
  """
  texts = as_text_list(texts)
  digest = text_hash(texts)
  cache_dir = pathlib.Path(cache_dir)
  stem = f"{encoder.model_hash[:16]}-{digest[:16]}"
  array_path = cache_dir / f"{stem}.npy"
  manifest_path = cache_dir / f"{stem}.json"
  key = {"model_hash": encoder.model_hash, "text_hash": digest, "count": len(texts)}
  if manifest_path.is_file() and array_path.is_file():
    cached = _read_entry(array_path, manifest_path, key)
    if cached is not None:
      logger.info("text-embedding cache hit: %s", array_path)
      return cached
  vectors = np.asarray(encoder.encode(texts, batch_size=batch_size, progress=progress),
                       dtype=np.float32)
  if vectors.ndim != 2 or vectors.shape[0] != len(texts):
    raise ValueError(f"encoder returned shape {vectors.shape} for {len(texts)} texts")
  manifest = {**key, "dim": int(vectors.shape[1])}
  cache_dir.mkdir(parents=True, exist_ok=True)
  manifest_path.unlink(missing_ok=True)
  atomic_write(array_path, lambda f: np.save(f, vectors, allow_pickle=False))
  atomic_write(manifest_path, lambda f: f.write(json.dumps(manifest).encode()))
  logger.info("text-embedding cache written: %s", array_path)
  return vectors


def text_encoder(model_path: str | pathlib.Path | None = None, *, dtype: str = "float32",
                 expected_sha256: str | None = None) -> Encoder:
  """The frozen encoder of ``model_path``; ``None`` loads the installed
  all-MiniLM-L6-v2 (:func:`jaxrec.text.loading.minilm_path`) and checks its sha256.

  Raises:
    FileNotFoundError: when ``model_path`` is None and the model package is not
      installed (with the install command), or a model file is missing.
    ValueError: as :func:`load_encoder`.
  """
  if model_path is None:
    model_path = loading.minilm_path()
    if model_path is None:
      raise FileNotFoundError(f"package {loading.MINILM_PACKAGE} not found; "
                              f"{loading.INSTALL_HINT}")
    expected_sha256 = expected_sha256 or loading.MINILM_SHA256
  return load_encoder(model_path, dtype=dtype, expected_sha256=expected_sha256)


def item_text_embeddings(item_text: Sequence[str],
                         model_path: str | pathlib.Path | None = None,
                         cache_dir: str | pathlib.Path | None = None, *,
                         dtype: str = "float32", expected_sha256: str | None = None,
                         batch_size: int = 64, progress: bool = True) -> np.ndarray:
  """Frozen LM vectors for ``Interactions.item_text``, cached on disk.

  Args:
    item_text: ``[I]`` one non-empty string per item.
    model_path, dtype, expected_sha256: as :func:`text_encoder`.
    cache_dir: cache directory; ``None`` uses :func:`default_cache_dir`.
    batch_size, progress: passed to the encoder on a cache miss.

  Returns:
    ``float32[I, d]`` unit-norm rows, for ``item_table["text"]``.

  Raises:
    FileNotFoundError, ValueError: as :func:`text_encoder` and
      :func:`cached_embeddings`.
  """
  encoder = text_encoder(model_path, dtype=dtype, expected_sha256=expected_sha256)
  return cached_embeddings(encoder, item_text,
                           default_cache_dir() if cache_dir is None else cache_dir,
                           batch_size=batch_size, progress=progress)
