"""A tiny randomly initialised BERT model directory, for fast tests and notebooks."""

from __future__ import annotations

import json
import pathlib
from typing import Sequence

import numpy as np
import safetensors.numpy
import tokenizers
from tokenizers import decoders, models, normalizers, pre_tokenizers, processors

from jaxrec.text.bert import BertConfig
from jaxrec.text.loading import (CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE,
                                 torch_tensor_table)

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
"""Special tokens, ids 0..4 of every tiny vocabulary (``[PAD]`` is id 0)."""

_LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789"
DEFAULT_VOCAB = (tuple(_LETTERS) + tuple(f"##{c}" for c in _LETTERS)
                 + (".", ",", "!", "?", "'", "-", ":", "(", ")")
                 + ("the", "an", "of", "and", "in", "is", "this", "movie",
                    "film", "story", "love", "war", "comedy", "drama", "action",
                    "music", "rock", "jazz", "pop", "example", "sentence",
                    "##ing", "##ed"))
"""Default word pieces: single characters and ``##`` suffixes (so any lowercase
ASCII word can be spelled) plus a few whole words."""


def tiny_tokenizer(vocab: Sequence[str] = DEFAULT_VOCAB) -> tokenizers.Tokenizer:
  """A lowercasing BERT WordPiece tokenizer over ``SPECIAL_TOKENS + vocab``.

  Single texts become ``[CLS] pieces [SEP]``; unknown words become ``[UNK]``.

  Raises:
    ValueError: when ``vocab`` repeats a token or contains a special token.
  """
  tokens = list(SPECIAL_TOKENS) + list(vocab)
  if len(set(tokens)) != len(tokens):
    duplicate = next(t for t in tokens if tokens.count(t) > 1)
    raise ValueError(f"vocab: token {duplicate!r} appears more than once "
                     "(special tokens are added automatically)")
  ids = {token: i for i, token in enumerate(tokens)}
  tokenizer = tokenizers.Tokenizer(models.WordPiece(ids, unk_token="[UNK]"))
  tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
  tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
  tokenizer.post_processor = processors.TemplateProcessing(
      single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
      special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])])
  tokenizer.decoder = decoders.WordPiece()
  tokenizer.add_special_tokens(list(SPECIAL_TOKENS))
  return tokenizer


def tiny_bert(directory: str | pathlib.Path, *, seed: int = 0,
              vocab: Sequence[str] = DEFAULT_VOCAB, hidden: int = 32, layers: int = 2,
              heads: int = 4, intermediate: int | None = None,
              max_position: int = 64) -> pathlib.Path:
  """Writes a random BERT model directory in the sentence-transformers layout.

  Files: ``config.json``; ``model.safetensors`` with the tensor names and
  PyTorch layouts of a real ``BertModel`` (``Linear`` weights ``(out, in)``,
  plus a ``pooler`` and a ``position_ids`` buffer, which loaders ignore);
  ``tokenizer.json`` from :func:`tiny_tokenizer`. Weights are
  ``N(0, 0.1^2)``, LayerNorm scales ``1 + N(0, 0.1^2)``, drawn with
  ``numpy.random.default_rng(seed)``.

  Args:
    directory: created when absent.
    seed: weight seed.
    vocab: word pieces after the special tokens.
    hidden, layers, heads: ``hidden_size``, ``num_hidden_layers``,
      ``num_attention_heads``.
    intermediate: feed-forward width, default ``4 * hidden``.
    max_position: ``max_position_embeddings`` (= the default max_length).

  Returns:
    ``directory`` as a ``Path``.

  Raises:
    ValueError: for an invalid architecture or vocabulary.
  """
  directory = pathlib.Path(directory)
  tokenizer = tiny_tokenizer(vocab)
  config = BertConfig(vocab_size=tokenizer.get_vocab_size(), hidden_size=hidden,
                      num_hidden_layers=layers, num_attention_heads=heads,
                      intermediate_size=intermediate or 4 * hidden,
                      max_position_embeddings=max_position, type_vocab_size=2,
                      layer_norm_eps=1e-12)
  rng = np.random.default_rng(seed)
  state = {}
  for name, (flax_path, shape, _) in torch_tensor_table(config).items():
    offset = 1.0 if flax_path[-1] == "scale" else 0.0
    state[name] = (offset + 0.1 * rng.standard_normal(shape)).astype(np.float32)
  state["pooler.dense.weight"] = rng.standard_normal((hidden, hidden)).astype(np.float32)
  state["pooler.dense.bias"] = np.zeros(hidden, np.float32)
  state["embeddings.position_ids"] = np.arange(max_position, dtype=np.int64)[None]
  directory.mkdir(parents=True, exist_ok=True)
  raw_config = {"architectures": ["BertModel"], "model_type": "bert",
                "pad_token_id": 0, **config.to_dict()}
  (directory / CONFIG_FILE).write_text(json.dumps(raw_config, indent=2),
                                       encoding="utf-8")
  safetensors.numpy.save_file(state, str(directory / WEIGHTS_FILE))
  tokenizer.save(str(directory / TOKENIZER_FILE))
  return directory
