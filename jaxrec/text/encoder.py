"""A frozen sentence encoder: tokenise, bucket by length, jit-apply, unpad.

Texts are sorted by token length and cut into batches of ``batch_size``; each
batch is padded to a bucket length (the next power of two >= 16, capped at
``max_length``) and its row count to the next power of two (capped at
``batch_size``), so only a handful of shapes are ever compiled. Results come
back in the original order.

Policies: an empty or whitespace-only text raises ``ValueError`` naming its
index (it has no tokens to pool; give items a fallback text such as their
title); a text longer than ``max_length`` tokens, ``[CLS]`` and ``[SEP]``
included, is truncated to its first ``max_length - 2`` word pieces.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import tokenizers
import tqdm

from jaxrec.text import loading
from jaxrec.text.bert import BertConfig, BertEncoder, canonical_dtype

MIN_BUCKET = 16


def bucket_length(length: int, max_length: int, minimum: int = MIN_BUCKET) -> int:
  """Padded length for a batch whose longest text has ``length`` tokens.

  ``min(max_length, 2^ceil(log2(max(length, minimum))))``.

  Raises:
    ValueError: when ``length`` is not in ``[1, max_length]``.
  """
  if not 1 <= length <= max_length:
    raise ValueError(f"token length {length} is outside [1, {max_length}]")
  return min(max_length, 1 << (max(length, minimum) - 1).bit_length())


def length_sorted_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
  """Index batches of at most ``batch_size``, in ascending (stable) length order.

  Args:
    lengths: ``int[N]`` token lengths.
    batch_size: rows per batch, >= 1.

  Returns:
    A list of ``int64[<=batch_size]`` index arrays that together cover ``0..N-1``.

  Raises:
    ValueError: when ``batch_size < 1``.
  """
  if batch_size < 1:
    raise ValueError(f"batch_size must be >= 1, got {batch_size}")
  order = np.argsort(np.asarray(lengths), kind="stable")
  return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def as_text_list(texts: Sequence[str]) -> list[str]:
  """``texts`` as a list after checking that every entry is a ``str``.

  Raises:
    ValueError: when ``texts`` is a single string (a common slip for ``[text]``)
      or an entry is not a string (naming its index).
  """
  if isinstance(texts, str):
    raise ValueError("texts must be a sequence of strings, got a single str")
  texts = list(texts)
  for i, text in enumerate(texts):
    if not isinstance(text, str):
      raise ValueError(f"texts[{i}] is a {type(text).__name__}, expected str")
  return texts


class Encoder:
  """A loaded, frozen BERT sentence encoder (see :func:`load_encoder`).

  Attributes:
    config: the architecture.
    params: Flax params (float32, on the default device).
    tokenizer: the ``tokenizers.Tokenizer`` (no padding, truncation at max_length).
    max_length: maximum tokens per text, ``[CLS]``/``[SEP]`` included.
    dtype: compute dtype name, ``"float32"`` or ``"bfloat16"``.
    model_hash: hex sha256 identifying weights, tokenizer, config, dtype and
      max_length (the cache key of :mod:`jaxrec.text.cache`).
  """

  def __init__(self, config: BertConfig, params: Any, tokenizer: tokenizers.Tokenizer,
               *, max_length: int, dtype: str = "float32", model_hash: str):
    """Wraps converted params; raises ValueError for a bad dtype or max_length."""
    if not 2 <= max_length <= config.max_position_embeddings:
      raise ValueError(f"max_length {max_length} is outside "
                       f"[2, max_position_embeddings={config.max_position_embeddings}]")
    self.config = config
    self.dtype = canonical_dtype(dtype)
    self.params = jax.device_put(params)
    self.tokenizer = tokenizer
    self.max_length = max_length
    self.model_hash = model_hash
    self.module = BertEncoder(config, dtype=jnp.dtype(self.dtype))
    self._apply = jax.jit(self.module.apply)

  @property
  def dim(self) -> int:
    """Embedding width (``hidden_size``)."""
    return self.config.hidden_size

  def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
    """Token ids per text, ``[CLS] ... [SEP]``, truncated to ``max_length``.

    Raises:
      ValueError: as :func:`as_text_list`, or when an entry is empty or
        whitespace-only (naming its index).
    """
    texts = as_text_list(texts)
    for i, text in enumerate(texts):
      if not text.strip():
        raise ValueError(f"texts[{i}] is empty; every text needs at least one token")
    return [enc.ids for enc in self.tokenizer.encode_batch(texts)]

  def encode(self, texts: Sequence[str], *, batch_size: int = 64,
             progress: bool = True) -> np.ndarray:
    """Embeds texts with the frozen encoder.

    Args:
      texts: ``N`` non-empty strings.
      batch_size: texts per forward pass.
      progress: show a tqdm progress bar.

    Returns:
      ``float32[N, hidden]`` unit-norm vectors in the order of ``texts``.

    Raises:
      ValueError: as :meth:`tokenize`, or when ``batch_size < 1``.
    """
    ids = self.tokenize(texts)
    lengths = np.array([len(row) for row in ids], dtype=np.int64)
    batches = length_sorted_batches(lengths, batch_size)
    out = np.zeros((len(ids), self.dim), np.float32)
    with tqdm.tqdm(total=len(ids), disable=not progress, desc="encoding texts",
                   unit="text") as bar:
      for index in batches:
        width = bucket_length(int(lengths[index].max()), self.max_length)
        rows = min(batch_size, 1 << (len(index) - 1).bit_length())
        tokens = np.zeros((rows, width), np.int32)
        mask = np.zeros((rows, width), np.int32)
        for r, i in enumerate(index):
          tokens[r, :lengths[i]] = ids[i]
          mask[r, :lengths[i]] = 1
        vectors = self._apply({"params": self.params}, tokens, mask)
        out[index] = np.asarray(vectors)[:len(index)]
        bar.update(len(index))
    return out


def model_hash(weights_sha256: str, tokenizer_sha256: str, config: BertConfig,
               dtype: str, max_length: int) -> str:
  """Hex sha256 of the canonical JSON of everything that determines the vectors."""
  key = {"weights_sha256": weights_sha256, "tokenizer_sha256": tokenizer_sha256,
         "config": config.to_dict(), "dtype": canonical_dtype(dtype),
         "max_length": max_length}
  return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def load_encoder(path: str | pathlib.Path, *, dtype: str = "float32",
                 expected_sha256: str | None = None,
                 max_length: int | None = None) -> Encoder:
  """Loads a sentence-transformers BERT directory as a frozen :class:`Encoder`.

  Args:
    path: directory with config.json, model.safetensors, tokenizer.json
      (e.g. :func:`jaxrec.text.loading.minilm_path`).
    dtype: compute dtype, ``"float32"``/``"fp32"`` or ``"bfloat16"``/``"bf16"``.
    expected_sha256: when given, model.safetensors must have this sha256
      (:data:`jaxrec.text.loading.MINILM_SHA256` for all-MiniLM-L6-v2).
    max_length: tokens per text incl. ``[CLS]``/``[SEP]``; default
      :func:`jaxrec.text.loading.default_max_length`.

  Returns:
    The encoder.

  Raises:
    FileNotFoundError: naming a missing file, with how to get the model.
    ValueError: on a sha256 mismatch, an invalid config, a missing/unexpected/
      mis-shaped tensor, a bad dtype, or max_length outside
      ``[2, max_position_embeddings]``.
  """
  path = loading.check_model_dir(path)
  config = BertConfig.from_json(path / loading.CONFIG_FILE)
  weights = path / loading.WEIGHTS_FILE
  if expected_sha256 is None:
    weights_sha = loading.sha256_file(weights)
  else:
    weights_sha = loading.verify_sha256(weights, expected_sha256)
  if max_length is None:
    max_length = loading.default_max_length(path, config)
  params = loading.load_params(weights, config)
  tokenizer = loading.load_tokenizer(path / loading.TOKENIZER_FILE, max_length)
  key = model_hash(weights_sha, loading.sha256_file(path / loading.TOKENIZER_FILE),
                   config, dtype, max_length)
  return Encoder(config, params, tokenizer, max_length=max_length, dtype=dtype,
                 model_hash=key)
