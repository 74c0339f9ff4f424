"""Flax linen building blocks: field embeddings, MLPs, feature encoders."""

from __future__ import annotations

from collections.abc import Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxrec.models.features import MASK_SUFFIX, TEXT, FieldSpec


POOLINGS = ("mean", "sum")


def pooled_embedding(table: jax.Array, ids: jax.Array, mask: jax.Array,
                     pooling: str = "mean") -> jax.Array:
  """Masked mean (``pooling="mean"``) or sum (``"sum"``) of embeddings:
  ``sum_k m_k E[ids_k] / max(sum_k m_k, eps)`` or ``sum_k m_k E[ids_k]``.

  Args:
    table: ``float32[V, d]`` embedding table.
    ids: ``int32[..., m]`` ids (padding has mask 0).
    mask: ``float32[..., m]``.
    pooling: ``"mean"`` or ``"sum"``.

  Returns:
    ``float32[..., d]``; all zeros when the mask is all zero.

  Raises:
    ValueError: ``pooling`` is not one of ``POOLINGS``.
  """
  if pooling not in POOLINGS:
    raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
  emb = jnp.sum(jnp.take(table, ids, axis=0) * mask[..., None], axis=-2)
  if pooling == "sum":
    return emb
  count = jnp.sum(mask, axis=-1, keepdims=True)
  return emb / jnp.where(count > 0, count, 1.0)


class FieldEmbedding(nn.Module):
  """One ``embed_dim`` embedding table per field, named after the field.

  Maps ``{field: int32[*b] or int32[*b, m], "<field>_mask": float32[*b, m]}`` to a
  list with one ``float32[*b, embed_dim]`` array per field (multi-hot fields are
  mask-weighted means or sums, ``pooling``; see ``pooled_embedding``).
  """

  specs: tuple[FieldSpec, ...]
  embed_dim: int
  embedding_init: nn.initializers.Initializer = nn.initializers.normal(stddev=0.1)
  pooling: str = "mean"

  @nn.compact
  def __call__(self, feats: Mapping[str, jax.Array]) -> list[jax.Array]:
    out = []
    for spec in self.specs:
      table = self.param(spec.name, self.embedding_init, (spec.vocab_size, self.embed_dim))
      if spec.multi_hot:
        out.append(pooled_embedding(table, feats[spec.name],
                                    feats[spec.name + MASK_SUFFIX], self.pooling))
      else:
        out.append(jnp.take(table, feats[spec.name], axis=0))
    return out


class SharedInputDense(nn.Module):
  """``Dense`` over ``[broadcast(shared); x]`` without materialising the broadcast.

  ``y_j = [shared; x_j] W + b = shared W[:p] + x_j W[p:] + b`` for ``p =
  len(shared)``: the shared part costs one row instead of ``S``. The parameters
  (``kernel float32[p + q, features]``, ``bias float32[features]``) and their
  initialisation are those of ``nn.Dense`` on the concatenated input.
  """

  features: int

  @nn.compact
  def __call__(self, shared: jax.Array, x: jax.Array) -> jax.Array:
    """``shared: float32[p]``, ``x: float32[S, q]`` -> ``float32[S, features]``."""
    width = shared.shape[-1]
    kernel = self.param("kernel", nn.initializers.lecun_normal(),
                        (width + x.shape[-1], self.features))
    bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
    return shared @ kernel[:width] + x @ kernel[width:] + bias


class MLP(nn.Module):
  """ReLU MLP ``x -> Dense(out)(relu(... relu(Dense(h_1)(x))))``.

  Layers are named ``hidden_0, hidden_1, ...`` and ``out``. With ``shared``
  (``float32[p]``, the same for every row of ``x: float32[S, q]``) the input is
  ``[broadcast(shared); x]`` and the first layer is a ``SharedInputDense``
  (same parameters as a ``Dense`` on the concatenation, fewer FLOPs). With
  ``from_first=True``, ``x`` is already the first layer's output (before its
  ReLU) and the network continues from there.
  """

  hidden: tuple[int, ...]
  out: int

  @nn.compact
  def __call__(self, x: jax.Array, shared: jax.Array | None = None, *,
               from_first: bool = False) -> jax.Array:
    widths = self.hidden + (self.out,)
    names = [f"hidden_{k}" for k in range(len(self.hidden))] + ["out"]
    for k, (width, name) in enumerate(zip(widths, names)):
      if k == 0 and from_first:
        pass
      elif k == 0 and shared is not None:
        x = SharedInputDense(width, name=name)(shared, x)
      else:
        x = nn.Dense(width, name=name)(x)
      if k < len(self.hidden):
        x = nn.relu(x)
    return x


class ItemEncoder(nn.Module):
  """Item parts: field embeddings and, if ``text_proj > 0``, ``W text + b``.

  Maps gathered item features (leading axes ``[*b]``, ``feats["text"]:
  float32[*b, d]`` when text is used) to a list of ``float32[*b, .]`` arrays
  (``embed_dim`` per field, then ``text_proj`` for the text projection);
  multi-hot fields are pooled by ``pooling`` (``"mean"`` or ``"sum"``).
  """

  specs: tuple[FieldSpec, ...]
  embed_dim: int
  text_proj: int = 0
  pooling: str = "mean"

  @nn.compact
  def __call__(self, feats: Mapping[str, jax.Array]) -> list[jax.Array]:
    parts = FieldEmbedding(self.specs, self.embed_dim, pooling=self.pooling,
                           name="embed")(feats)
    if self.text_proj:
      parts.append(nn.Dense(self.text_proj, name="text_proj")(feats[TEXT]))
    return parts


class FeatureMLP(nn.Module):
  """MeLU-style scorer: ``s_j = MLP([e(user); e(item_j)])``.

  ``e(user)`` concatenates the user's field embeddings (shared by all items),
  ``e(item_j)`` the item's field embeddings and optional text projection.
  Parameters: ``user_embed``, ``item/embed``, ``item/text_proj``, ``mlp``.
  The scorer is staged as ``head(*features(...))``: ``features`` reads only the
  embeddings and text projection, ``head`` only ``mlp`` (so a meta-learner that
  adapts ``mlp`` can compute the features once per task).
  """

  user_specs: tuple[FieldSpec, ...]
  item_specs: tuple[FieldSpec, ...]
  embed_dim: int
  hidden: tuple[int, ...]
  text_proj: int = 0

  def setup(self) -> None:
    self.item = ItemEncoder(self.item_specs, self.embed_dim, self.text_proj)
    self.user_embed = FieldEmbedding(self.user_specs, self.embed_dim)
    self.mlp = MLP(self.hidden, 1)

  def features(self, user_feats: Mapping[str, jax.Array],
               item_feats: Mapping[str, jax.Array]) -> tuple[jax.Array, jax.Array]:
    """``(e(user) float32[p], e(items) float32[S, q])`` from one user's row and
    ``[S]`` items' rows (``p = embed_dim * #user fields``)."""
    items = jnp.concatenate(self.item(item_feats), axis=-1)
    users = self.user_embed(user_feats)
    user = jnp.concatenate(users, axis=-1) if users else jnp.zeros((0,), items.dtype)
    return user, items

  def head(self, user: jax.Array, items: jax.Array) -> jax.Array:
    """Scores ``float32[S]`` of ``MLP([user; items_j])`` (``user: [p]``, ``items:
    [S, q]``)."""
    return self.mlp(items, shared=user)[..., 0]

  @property
  def linear_leaves(self) -> tuple[str, str]:
    """Paths of the MLP's first layer kernel and bias (``W``, ``b`` of ``head``)."""
    first = "hidden_0" if self.hidden else "out"
    return f"mlp/{first}/kernel", f"mlp/{first}/bias"

  def head_from(self, hidden: jax.Array) -> jax.Array:
    """Scores ``float32[S]`` from the MLP's first-layer output ``hidden: [S, h]``
    (``head`` is ``head_from`` of ``[user; items_j] W + b``)."""
    return self.mlp(hidden, from_first=True)[..., 0]

  def __call__(self, user_feats: Mapping[str, jax.Array],
               item_feats: Mapping[str, jax.Array]) -> jax.Array:
    """Scores ``float32[S]`` from one user's features and ``[S]`` items' features."""
    return self.head(*self.features(user_feats, item_feats))
