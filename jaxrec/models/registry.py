"""Model registry: ``make_model(name, user_table, item_table, vocab_sizes, **kw)``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from jaxrec.models.base import RecModel
from jaxrec.models.foldin import foldin
from jaxrec.models.hybrid import hybrid
from jaxrec.models.melu import melu
from jaxrec.models.two_tower import two_tower

MODELS: dict[str, Callable[..., RecModel]] = {
    "melu": melu, "hybrid": hybrid, "two_tower": two_tower, "foldin": foldin}


def make_model(name: str, user_table: Mapping[str, np.ndarray],
               item_table: Mapping[str, np.ndarray], vocab_sizes: Mapping[str, int],
               **kwargs: Any) -> RecModel:
  """Builds the model registered as ``name`` with its keyword options ``kwargs``.

  Raises:
    ValueError: ``name`` is not in ``MODELS`` (the message lists the choices), or
      the model's own checks fail.
  """
  if name not in MODELS:
    raise ValueError(f"unknown model '{name}' (choose from {sorted(MODELS)})")
  return MODELS[name](user_table, item_table, vocab_sizes, **kwargs)
