"""Shared defaults: every config in this folder starts from ``get_config()`` here.

``get_config`` is the package's config schema (:func:`jaxrec.config.get_config`),
re-exported; ``hybrid`` is a helper of the hybrid-model configs beside it. Not meant
to be run alone; see the dataset/method configs beside it.
"""

import ml_collections

from jaxrec.config import get_config

__all__ = ["get_config", "hybrid"]


def hybrid(c: ml_collections.ConfigDict, *, text: bool) -> ml_collections.ConfigDict:
  """``c`` with the hybrid model, with or without the frozen MiniLM item-text vector.

  The text and no-text variants of a config differ only in ``data.text_features``
  and ``model.kwargs.use_text`` (and their method names), so their paired
  difference measures the text vector alone.
  """
  c.data.text_features = text
  c.model.name = "hybrid"
  c.model.kwargs.use_text = text
  c.name = "hybrid-text-maml" if text else "hybrid-notext-maml"
  return c

