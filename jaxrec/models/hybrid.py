"""Hybrid model: id / side-feature embeddings plus projected language-model text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from jaxrec.models.base import RecModel
from jaxrec.models.melu import feature_mlp_model


def hybrid(user_table: Mapping[str, np.ndarray], item_table: Mapping[str, np.ndarray],
           vocab_sizes: Mapping[str, int], *, use_ids: bool = True, use_text: bool = True,
           use_side: bool = True, text_proj: int = 32, embed_dim: int = 32,
           hidden: Sequence[int] = (64, 64), user_fields: Sequence[str] | None = None,
           item_fields: Sequence[str] | None = None, loss: str = "mse") -> RecModel:
  """Hybrid scorer ``s(u, i) = MLP([e(u); e(i); W t_i + b])``.

  ``e(u)`` / ``e(i)`` concatenate the embeddings of the id field (``use_ids``) and
  the side fields (``use_side``); ``t_i = item_table["text"][i]`` is the frozen
  language-model vector (a constant: no gradient reaches it) and
  ``W: [d, text_proj]`` a learned projection (``use_text``). The MLP is MeLU's
  and is the default ``adapt_mask``.

  Args:
    user_table, item_table: feature tables (docs/architecture.md).
    vocab_sizes: field -> vocabulary size for every categorical field.
    use_ids: embed ``user_id`` / ``item_id``.
    use_text: project ``item_table["text"]: float32[I, d]``.
    use_side: embed the side fields.
    text_proj: width of the text projection.
    embed_dim: width of each field embedding.
    hidden: ReLU hidden widths of the MLP.
    user_fields, item_fields: side fields to use; ``None`` = all.
    loss: ``"mse"``, ``"bce"`` or ``"bpr"``.

  Returns:
    A ``RecModel`` with params ``{"user_embed", "item": {"embed", "text_proj"},
    "mlp"}`` (``text_proj`` only with text); ``head_mask`` selects ``mlp/out``,
    the output layer (see ``feature_mlp_model``).

  Raises:
    ValueError: nothing is selected, ``use_text`` without ``item_table["text"]``
      or with ``text_proj < 1``, the item representation is empty, or a field or
      the loss is invalid.
  """
  return feature_mlp_model("hybrid", user_table, item_table, vocab_sizes,
                           embed_dim=embed_dim, hidden=hidden, user_fields=user_fields,
                           item_fields=item_fields, use_ids=use_ids, use_side=use_side,
                           use_text=use_text, text_proj=text_proj, loss=loss)
