"""Two-tower model: ``s(u, i) = <u, v_i> + b_i + b`` with an adaptable user tower."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxrec.models.base import RecModel, build_model
from jaxrec.models.features import FieldSpec, select_features
from jaxrec.models.layers import MLP, FieldEmbedding, ItemEncoder

# The output layer (ANIL's head): the read-out ``s_j = <v_j, u> + w^T x_j + c + b``
# of the frozen item representation (``v_j``, ``x_j``), affine in these leaves:
# ``u = user_vec + proj(e(u))``, the item bias layer ``(w, c)`` and the global ``b``.
HEAD_LAYERS = (("user_tower", "user_vec"), ("user_tower", "proj"), ("item_bias",),
               ("bias",))


class UserTower(nn.Module):
  """``u = user_vec + W [e_1(u); ...; e_p(u)] + c`` (just ``user_vec`` without fields).

  ``user_vec: float32[dim]`` is a free vector shared by all users at
  initialisation, which the inner loop adapts from a user's support set.
  """

  specs: tuple[FieldSpec, ...]
  embed_dim: int
  dim: int

  @nn.compact
  def __call__(self, feats: Mapping[str, jax.Array]) -> jax.Array:
    """One user's row (leaves ``[]``/``[m]``) -> ``float32[dim]``."""
    u = self.param("user_vec", nn.initializers.normal(stddev=0.1), (self.dim,))
    if self.specs:
      x = jnp.concatenate(FieldEmbedding(self.specs, self.embed_dim, name="embed")(feats),
                          axis=-1)
      u = u + nn.Dense(self.dim, name="proj")(x)
    return u


class TwoTower(nn.Module):
  """Scores ``s_j = <u, v_j> + b_j + b`` for one user and ``S`` items.

  ``x_j`` concatenates the item's field embeddings and text projection;
  ``v_j = MLP(x_j)`` (ReLU ``hidden``, output ``dim``), the item bias
  ``b_j = w^T x_j + c`` and ``b`` a global bias.
  """

  user_specs: tuple[FieldSpec, ...]
  item_specs: tuple[FieldSpec, ...]
  embed_dim: int
  dim: int
  hidden: tuple[int, ...]
  text_proj: int = 0

  @nn.compact
  def __call__(self, user_feats: Mapping[str, jax.Array],
               item_feats: Mapping[str, jax.Array]) -> jax.Array:
    """One user's row and ``[S]`` items' rows -> ``float32[S]``."""
    u = UserTower(self.user_specs, self.embed_dim, self.dim, name="user_tower")(user_feats)
    x = jnp.concatenate(ItemEncoder(self.item_specs, self.embed_dim, self.text_proj,
                                    name="item")(item_feats), axis=-1)
    v = MLP(self.hidden, self.dim, name="item_tower")(x)
    item_bias = nn.Dense(1, name="item_bias")(x)[..., 0]
    bias = self.param("bias", nn.initializers.zeros, ())
    return v @ u + item_bias + bias


def two_tower(user_table: Mapping[str, np.ndarray], item_table: Mapping[str, np.ndarray],
              vocab_sizes: Mapping[str, int], *, dim: int = 32, embed_dim: int = 32,
              hidden: Sequence[int] = (64,), use_ids: bool = True, use_side: bool = True,
              use_text: bool = False, text_proj: int = 32,
              user_fields: Sequence[str] | None = None,
              item_fields: Sequence[str] | None = None, loss: str = "mse") -> RecModel:
  """Two-tower scorer ``s(u, i) = <u, v_i> + b_i + b`` (see ``TwoTower``).

  Args:
    user_table, item_table: feature tables (docs/architecture.md).
    vocab_sizes: field -> vocabulary size for every categorical field.
    dim: width of the user and item vectors.
    embed_dim: width of each field embedding.
    hidden: ReLU hidden widths of the item tower.
    use_ids: embed ``user_id`` / ``item_id``.
    use_side: embed the side fields.
    use_text: project ``item_table["text"]: float32[I, d]`` to ``text_proj`` dims.
    text_proj: width of the text projection.
    user_fields, item_fields: side fields to use; ``None`` = all.
    loss: ``"mse"``, ``"bce"`` or ``"bpr"``.

  Returns:
    A ``RecModel`` with params ``{"user_tower": {"user_vec", "embed", "proj"},
    "item": {"embed", "text_proj"}, "item_tower", "item_bias", "bias"}`` (absent
    parts omitted). Default ``adapt_mask``: the user tower's ``user_vec`` and
    ``proj``; its embedding tables stay shared. ``head_mask``: the leaves under
    ``HEAD_LAYERS`` (``user_tower/user_vec``, ``user_tower/proj``, ``item_bias``,
    ``bias``), the read-out of the item tower's output.

  Raises:
    ValueError: see ``select_features``; or an unknown loss.
  """
  user_specs, item_specs = select_features(
      user_table, item_table, vocab_sizes, model="two_tower", user_fields=user_fields,
      item_fields=item_fields, use_ids=use_ids, use_side=use_side, use_text=use_text,
      text_proj=text_proj)
  text_proj = text_proj if use_text else 0
  module = TwoTower(user_specs, item_specs, embed_dim, dim, tuple(hidden), text_proj)
  config = {"dim": dim, "embed_dim": embed_dim, "hidden": list(hidden),
            "user_fields": [s.name for s in user_specs],
            "item_fields": [s.name for s in item_specs], "use_ids": use_ids,
            "use_side": use_side, "use_text": use_text, "text_proj": text_proj}
  return build_model(
      name="two_tower", config=config, module=module, user_table=user_table,
      user_specs=user_specs, item_table=item_table, item_specs=item_specs,
      use_text=use_text, loss=loss,
      adapts=lambda path: path[0] == "user_tower" and path[1] != "embed",
      head=lambda path: any(path[:len(layer)] == layer for layer in HEAD_LAYERS))
