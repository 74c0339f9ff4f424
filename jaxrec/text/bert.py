"""A BERT-style sentence encoder in Flax linen.

token ids ─► embeddings (word + position + token type, LayerNorm)
          ─► N post-LayerNorm transformer layers (masked self-attention, erf GELU MLP)
          ─► mean over the attention mask ─► L2 normalisation.

The parameter tree mirrors the HuggingFace ``BertModel`` names so that
:mod:`jaxrec.text.loading` can convert PyTorch checkpoints with a fixed table::

  embeddings/{word_embeddings,position_embeddings,token_type_embeddings}/embedding
  embeddings/LayerNorm/{scale,bias}
  layer_{i}/attention/{query,key,value,output}/{kernel,bias}
  layer_{i}/attention/LayerNorm/{scale,bias}
  layer_{i}/{intermediate,output}/{kernel,bias}
  layer_{i}/LayerNorm/{scale,bias}
"""

from __future__ import annotations

import dataclasses
import functools
import json
import pathlib
from collections.abc import Callable
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

_DTYPE_ALIASES = {"float32": "float32", "fp32": "float32",
                  "bfloat16": "bfloat16", "bf16": "bfloat16"}


def canonical_dtype(name: str) -> str:
  """Maps a compute dtype name to ``"float32"`` or ``"bfloat16"``.

  Accepts ``float32``/``fp32`` and ``bfloat16``/``bf16``.

  Raises:
    ValueError: for any other name.
  """
  if name not in _DTYPE_ALIASES:
    raise ValueError(f"unknown compute dtype {name!r}; expected one of "
                     f"{sorted(_DTYPE_ALIASES)}")
  return _DTYPE_ALIASES[name]


@dataclasses.dataclass(frozen=True)
class BertConfig:
  """The architecture fields of a HuggingFace BERT ``config.json``.

  Raises:
    ValueError (on construction): a non-positive size, ``hidden_size`` not
      divisible by ``num_attention_heads``, ``layer_norm_eps <= 0``, or
      ``hidden_act`` other than ``"gelu"`` (the exact erf GELU; tanh
      approximations such as ``"gelu_new"`` are not supported).
  """

  vocab_size: int
  hidden_size: int
  num_hidden_layers: int
  num_attention_heads: int
  intermediate_size: int
  max_position_embeddings: int
  type_vocab_size: int
  layer_norm_eps: float
  hidden_act: str = "gelu"

  def __post_init__(self):
    for field in ("vocab_size", "hidden_size", "num_hidden_layers",
                  "num_attention_heads", "intermediate_size",
                  "max_position_embeddings", "type_vocab_size"):
      value = getattr(self, field)
      if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"field '{field}' must be a positive integer, got {value!r}")
    if self.hidden_size % self.num_attention_heads:
      raise ValueError(f"field 'hidden_size' ({self.hidden_size}) is not divisible by "
                       f"'num_attention_heads' ({self.num_attention_heads})")
    if not self.layer_norm_eps > 0:
      raise ValueError(f"field 'layer_norm_eps' must be > 0, got {self.layer_norm_eps!r}")
    if self.hidden_act != "gelu":
      raise ValueError(f"field 'hidden_act' is {self.hidden_act!r}; only 'gelu' "
                       "(exact erf GELU) is supported")

  @property
  def head_dim(self) -> int:
    return self.hidden_size // self.num_attention_heads

  @classmethod
  def from_dict(cls, raw: Mapping[str, Any], source: str = "config") -> "BertConfig":
    """Builds a config from a parsed ``config.json``; extra keys are ignored.

    Raises:
      ValueError: naming ``source`` and the field when a field is missing or invalid.
    """
    kwargs = {}
    for field in dataclasses.fields(cls):
      if field.name in raw:
        kwargs[field.name] = raw[field.name]
      elif field.default is dataclasses.MISSING:
        raise ValueError(f"{source}: missing field '{field.name}'")
    try:
      return cls(**kwargs)
    except ValueError as e:
      raise ValueError(f"{source}: {e}") from None

  @classmethod
  def from_json(cls, path: str | pathlib.Path) -> "BertConfig":
    """Reads a HuggingFace ``config.json``.

    Raises:
      FileNotFoundError: when ``path`` does not exist.
      ValueError: when the file is not a JSON object or a field is missing/invalid.
    """
    path = pathlib.Path(path)
    if not path.is_file():
      raise FileNotFoundError(f"model config not found: {path}")
    try:
      raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
      raise ValueError(f"{path}: invalid JSON at line {e.lineno}: {e.msg}") from None
    if not isinstance(raw, dict):
      raise ValueError(f"{path}: expected a JSON object, got {type(raw).__name__}")
    return cls.from_dict(raw, source=str(path))

  def to_dict(self) -> dict[str, Any]:
    """The fields as a JSON-serialisable dict (the inverse of ``from_dict``)."""
    return dataclasses.asdict(self)


def masked_mean(states: jax.Array, mask: jax.Array) -> jax.Array:
  """Mean of token states over the attention mask, in float32.

  ``out[b] = sum_t mask[b, t] * states[b, t] / max(sum_t mask[b, t], 1e-9)``.

  Args:
    states: ``[B, L, H]`` token states (any float dtype).
    mask: ``[B, L]`` 1 for real tokens, 0 for padding.

  Returns:
    ``float32[B, H]``; an all-padding row gives zeros.
  """
  weights = mask.astype(jnp.float32)[..., None]
  total = jnp.sum(states.astype(jnp.float32) * weights, axis=-2)
  return total / jnp.maximum(jnp.sum(weights, axis=-2), 1e-9)


def l2_normalize(x: jax.Array, eps: float = 1e-12) -> jax.Array:
  """``x / max(||x||_2, eps)`` along the last axis; shape preserved."""
  norm = jnp.linalg.norm(x, axis=-1, keepdims=True)
  return x / jnp.maximum(norm, eps)


def _precision(dtype: Any) -> jax.lax.Precision:
  """HIGHEST for float32 compute (no TF32 matmuls on GPU), DEFAULT otherwise."""
  return (jax.lax.Precision.HIGHEST if jnp.dtype(dtype) == jnp.float32
          else jax.lax.Precision.DEFAULT)


def _dense(dtype: Any, *args: Any, **kwargs: Any) -> Callable[..., nn.Dense]:
  """``nn.Dense`` computing in ``dtype`` with float32 parameters and ``dtype``'s
  matmul precision (``args``/``kwargs``: further ``nn.Dense`` fields)."""
  return functools.partial(nn.Dense, *args, dtype=dtype, param_dtype=jnp.float32,
                           precision=_precision(dtype), **kwargs)


def _layer_norm(config: BertConfig, dtype: Any) -> nn.LayerNorm:
  """BERT's ``LayerNorm`` (named so, as in the checkpoints): ``config.layer_norm_eps``,
  computing in ``dtype`` with float32 parameters. Call it inside a compact method."""
  return nn.LayerNorm(epsilon=config.layer_norm_eps, dtype=dtype,
                      param_dtype=jnp.float32, name="LayerNorm")


class SelfAttention(nn.Module):
  """Multi-head self-attention + output projection + residual post-LayerNorm.

  ``softmax(q k^T / sqrt(d) + mask_bias) v`` per head, with the logits and
  softmax in float32; padded keys get probability exactly 0.
  """

  config: BertConfig
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
    """``x``: ``[B, L, H]``; ``mask``: bool ``[B, L]`` (True = real key) -> ``[B, L, H]``."""
    c = self.config
    precision = _precision(self.dtype)
    dense = _dense(self.dtype, c.hidden_size)
    heads = lambda t: t.reshape(*t.shape[:-1], c.num_attention_heads, c.head_dim)
    q, k, v = (heads(dense(name=n)(x)) for n in ("query", "key", "value"))
    logits = jnp.einsum("bqhd,bkhd->bhqk", q, k, precision=precision)
    logits = logits.astype(jnp.float32) / jnp.sqrt(jnp.float32(c.head_dim))
    logits = jnp.where(mask[:, None, None, :], logits, jnp.finfo(jnp.float32).min)
    probs = jax.nn.softmax(logits, axis=-1).astype(self.dtype)
    context = jnp.einsum("bhqk,bkhd->bqhd", probs, v, precision=precision)
    out = dense(name="output")(context.reshape(x.shape))
    return _layer_norm(c, self.dtype)(out + x)


class TransformerLayer(nn.Module):
  """One BERT layer: ``y = LN(a + W2 gelu(W1 a))`` with ``a = SelfAttention(x)``."""

  config: BertConfig
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
    """``x``: ``[B, L, H]``; ``mask``: bool ``[B, L]``. Returns ``[B, L, H]``."""
    c = self.config
    dense = _dense(self.dtype)
    x = SelfAttention(c, self.dtype, name="attention")(x, mask)
    h = jax.nn.gelu(dense(c.intermediate_size, name="intermediate")(x), approximate=False)
    h = dense(c.hidden_size, name="output")(h)
    return _layer_norm(c, self.dtype)(h + x)


class Embeddings(nn.Module):
  """``LN(word[ids] + position[0..L-1] + token_type[type_ids])``."""

  config: BertConfig
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, input_ids: jax.Array, token_type_ids: jax.Array) -> jax.Array:
    """``input_ids``, ``token_type_ids``: int ``[B, L]``. Returns ``[B, L, H]``.

    Raises:
      ValueError: when ``L`` exceeds ``max_position_embeddings``.
    """
    c = self.config
    length = input_ids.shape[-1]
    if length > c.max_position_embeddings:
      raise ValueError(f"sequence length {length} exceeds max_position_embeddings "
                       f"{c.max_position_embeddings}")
    embed = functools.partial(nn.Embed, features=c.hidden_size, dtype=self.dtype,
                              param_dtype=jnp.float32)
    x = (embed(c.vocab_size, name="word_embeddings")(input_ids)
         + embed(c.max_position_embeddings, name="position_embeddings")(
             jnp.arange(length))
         + embed(c.type_vocab_size, name="token_type_embeddings")(token_type_ids))
    return _layer_norm(c, self.dtype)(x)


class BertEncoder(nn.Module):
  """Sentence encoder: BERT token states, masked mean pooling, L2 normalisation.

  Attributes:
    config: the architecture.
    dtype: compute dtype (``jnp.float32`` or ``jnp.bfloat16``); parameters stay
      float32 and pooling/normalisation run in float32.
  """

  config: BertConfig
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, input_ids: jax.Array, attention_mask: jax.Array,
               token_type_ids: jax.Array | None = None) -> jax.Array:
    """Encodes a padded batch.

    Args:
      input_ids: ``int32[B, L]`` token ids, padding anywhere the mask is 0.
      attention_mask: ``[B, L]`` 1 for real tokens, 0 for padding.
      token_type_ids: ``int32[B, L]`` segment ids; zeros when ``None``.

    Returns:
      ``float32[B, H]`` unit-norm sentence vectors (zeros for all-padding rows).

    Raises:
      ValueError: when the inputs are not 2-D with equal shapes, or ``L``
        exceeds ``max_position_embeddings``.
    """
    if input_ids.ndim != 2 or attention_mask.shape != input_ids.shape:
      raise ValueError(f"input_ids {input_ids.shape} and attention_mask "
                       f"{attention_mask.shape} must both be [batch, length]")
    if token_type_ids is None:
      token_type_ids = jnp.zeros_like(input_ids)
    mask = attention_mask.astype(bool)
    x = Embeddings(self.config, self.dtype, name="embeddings")(input_ids, token_type_ids)
    for i in range(self.config.num_hidden_layers):
      x = TransformerLayer(self.config, self.dtype, name=f"layer_{i}")(x, mask)
    return l2_normalize(masked_mean(x, mask))
