"""Flax linen building blocks: field embeddings, MLPs, feature encoders."""

from __future__ import annotations

from collections.abc import Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxrec.models.features import MASK_SUFFIX, TEXT, FieldSpec


def pooled_embedding(table: jax.Array, ids: jax.Array, mask: jax.Array) -> jax.Array:
  """Masked mean of embeddings: ``sum_k m_k E[ids_k] / max(sum_k m_k, eps)``.

  Args:
    table: ``float32[V, d]`` embedding table.
    ids: ``int32[..., m]`` ids (padding has mask 0).
    mask: ``float32[..., m]``.

  Returns:
    ``float32[..., d]``; all zeros when the mask is all zero.
  """
  emb = jnp.take(table, ids, axis=0) * mask[..., None]
  count = jnp.sum(mask, axis=-1, keepdims=True)
  return jnp.sum(emb, axis=-2) / jnp.where(count > 0, count, 1.0)


class FieldEmbedding(nn.Module):
  """One ``embed_dim`` embedding table per field, named after the field.

  Maps ``{field: int32[*b] or int32[*b, m], "<field>_mask": float32[*b, m]}`` to a
  list with one ``float32[*b, embed_dim]`` array per field (multi-hot fields are
  mask-weighted means, see ``pooled_embedding``).
  """

  specs: tuple[FieldSpec, ...]
  embed_dim: int

  @nn.compact
  def __call__(self, feats: Mapping[str, jax.Array]) -> list[jax.Array]:
    out = []
    for spec in self.specs:
      table = self.param(spec.name, nn.initializers.normal(stddev=0.1),
                         (spec.vocab_size, self.embed_dim))
      if spec.multi_hot:
        out.append(pooled_embedding(table, feats[spec.name],
                                    feats[spec.name + MASK_SUFFIX]))
      else:
        out.append(jnp.take(table, feats[spec.name], axis=0))
    return out


class MLP(nn.Module):
  """ReLU MLP ``x -> Dense(out)(relu(... relu(Dense(h_1)(x))))``.

  Layers are named ``hidden_0, hidden_1, ...`` and ``out``.
  """

  hidden: tuple[int, ...]
  out: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    for k, width in enumerate(self.hidden):
      x = nn.relu(nn.Dense(width, name=f"hidden_{k}")(x))
    return nn.Dense(self.out, name="out")(x)


class ItemEncoder(nn.Module):
  """Item parts: field embeddings and, if ``text_proj > 0``, ``W text + b``.

  Maps gathered item features (leading axes ``[*b]``, ``feats["text"]:
  float32[*b, d]`` when text is used) to a list of ``float32[*b, .]`` arrays
  (``embed_dim`` per field, then ``text_proj`` for the text projection).
  """

  specs: tuple[FieldSpec, ...]
  embed_dim: int
  text_proj: int = 0

  @nn.compact
  def __call__(self, feats: Mapping[str, jax.Array]) -> list[jax.Array]:
    parts = FieldEmbedding(self.specs, self.embed_dim, name="embed")(feats)
    if self.text_proj:
      parts.append(nn.Dense(self.text_proj, name="text_proj")(feats[TEXT]))
    return parts


class FeatureMLP(nn.Module):
  """MeLU-style scorer: ``s_j = MLP([e(user); e(item_j)])``.

  ``e(user)`` concatenates the user's field embeddings (broadcast over items),
  ``e(item_j)`` the item's field embeddings and optional text projection.
  Parameters: ``user_embed``, ``item/embed``, ``item/text_proj``, ``mlp``.
  """

  user_specs: tuple[FieldSpec, ...]
  item_specs: tuple[FieldSpec, ...]
  embed_dim: int
  hidden: tuple[int, ...]
  text_proj: int = 0

  @nn.compact
  def __call__(self, user_feats: Mapping[str, jax.Array],
               item_feats: Mapping[str, jax.Array]) -> jax.Array:
    """Scores ``float32[S]`` from one user's features and ``[S]`` items' features."""
    items = ItemEncoder(self.item_specs, self.embed_dim, self.text_proj,
                        name="item")(item_feats)
    num_items = items[0].shape[0]
    users = FieldEmbedding(self.user_specs, self.embed_dim, name="user_embed")(user_feats)
    users = [jnp.broadcast_to(u, (num_items,) + u.shape) for u in users]
    x = jnp.concatenate(users + items, axis=-1)
    return MLP(self.hidden, 1, name="mlp")(x)[..., 0]

