"""MeLU (Lee et al., KDD 2019): field embeddings -> MLP decision layers.

The scorer ``s(u, i) = MLP([e(u); e(i)])`` concatenates one ``embed_dim``
embedding per categorical field of the user and of the item (multi-hot fields
mean-pooled with their masks) and applies ReLU hidden layers and a scalar output.
The embeddings are shared across users; the decision layers (``mlp``) are what the
inner loop adapts per user.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from jaxrec.models.base import RecModel, build_model
from jaxrec.models.features import select_features
from jaxrec.models.layers import FeatureMLP


def feature_mlp_model(name: str, user_table: Mapping[str, np.ndarray],
                      item_table: Mapping[str, np.ndarray],
                      vocab_sizes: Mapping[str, int], *, embed_dim: int,
                      hidden: Sequence[int], user_fields: Sequence[str] | None,
                      item_fields: Sequence[str] | None, use_ids: bool, use_side: bool,
                      use_text: bool, text_proj: int, loss: str) -> RecModel:
  """A ``FeatureMLP`` scorer as a ``RecModel`` (MeLU and the hybrid model).

  The MLP input is ``embed_dim * (#user fields + #item fields)`` wide, plus
  ``text_proj`` with text. Default ``adapt_mask``: the ``mlp`` subtree;
  ``head_mask`` (the output layer): ``mlp/out``, the scalar score layer.

  Raises:
    ValueError: see ``select_features``; or an unknown loss.
  """
  user_specs, item_specs = select_features(
      user_table, item_table, vocab_sizes, model=name, user_fields=user_fields,
      item_fields=item_fields, use_ids=use_ids, use_side=use_side, use_text=use_text,
      text_proj=text_proj)
  text_proj = text_proj if use_text else 0
  module = FeatureMLP(user_specs, item_specs, embed_dim, tuple(hidden), text_proj)
  config = {"embed_dim": embed_dim, "hidden": list(hidden),
            "user_fields": [s.name for s in user_specs],
            "item_fields": [s.name for s in item_specs], "use_ids": use_ids,
            "use_side": use_side, "use_text": use_text, "text_proj": text_proj}
  return build_model(name=name, config=config, module=module, user_table=user_table,
                     user_specs=user_specs, item_table=item_table, item_specs=item_specs,
                     use_text=use_text, loss=loss, adapts=lambda path: path[0] == "mlp",
                     head=lambda path: path[:2] == ("mlp", "out"))


def melu(user_table: Mapping[str, np.ndarray], item_table: Mapping[str, np.ndarray],
         vocab_sizes: Mapping[str, int], *, embed_dim: int = 32,
         hidden: Sequence[int] = (64, 64), user_fields: Sequence[str] | None = None,
         item_fields: Sequence[str] | None = None, use_ids: bool = False,
         loss: str = "mse") -> RecModel:
  """MeLU: ``s(u, i) = MLP([e_1(u); ...; e_p(u); e_1(i); ...; e_q(i)])``.

  Args:
    user_table, item_table: feature tables (docs/architecture.md).
    vocab_sizes: field -> vocabulary size for every categorical field.
    embed_dim: width of each field embedding (8 fields x 32 = 256 MLP inputs).
    hidden: ReLU hidden widths of the decision MLP (then a scalar output).
    user_fields, item_fields: side fields to use; ``None`` = every categorical
      field of the table except the id field.
    use_ids: also embed ``user_id`` / ``item_id`` (off in the MeLU paper).
    loss: ``"mse"`` (ratings), ``"bce"`` or ``"bpr"`` (implicit feedback).

  Returns:
    A ``RecModel`` with params ``{"user_embed", "item": {"embed"}, "mlp"}`` whose
    default ``adapt_mask`` selects ``mlp`` only and whose ``head_mask`` selects
    ``mlp/out`` (kernel and bias of the output layer).

  Raises:
    ValueError: an unknown field or loss, a field missing from ``vocab_sizes``,
      ids outside a vocabulary, or no item field selected.
  """
  return feature_mlp_model("melu", user_table, item_table, vocab_sizes,
                           embed_dim=embed_dim, hidden=hidden, user_fields=user_fields,
                           item_fields=item_fields, use_ids=use_ids, use_side=True,
                           use_text=False, text_proj=0, loss=loss)
