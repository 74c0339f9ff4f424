"""The plain records of serving: a loaded :class:`Recommender` and what a request
returns (:class:`Recommendation`, :class:`Explanation`, :class:`Driver`).

Nothing here imports the other serving modules, so every one of them can import it.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any

import jax
import ml_collections
import numpy as np

from jaxrec import adapters
from jaxrec import models
from jaxrec.serving import bundle as bundle_lib


@dataclasses.dataclass(frozen=True)
class Driver:
  """A rated item that drove a recommendation.

  Attributes:
    item_id: raw id of the rated item.
    title: its title.
    rating: the user's rating of it.
    similarity: cosine similarity of its item vector to the recommended item's.
    shared: names of the feature values both items have (e.g. genres).
  """

  item_id: Any
  title: str
  rating: float
  similarity: float
  shared: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Explanation:
  """Why an item was recommended.

  Attributes:
    text: one human-readable sentence.
    drivers: up to ``jaxrec.serving.explain.MAX_DRIVERS`` rated items, most
      influential first (empty when no liked rated item resembles the
      recommendation).
    popularity: the item's number of training ratings.
    friends: how many of the user's friends have it among their training items,
      when at least ``jaxrec.serving.signals.MIN_FRIENDS`` and not all of them do,
      else 0 (so that the text never says what one named friend listens to).
    matches_description: it is one of the items nearest to the user's description.
  """

  text: str
  drivers: tuple[Driver, ...]
  popularity: int
  friends: int = 0
  matches_description: bool = False


@dataclasses.dataclass(frozen=True)
class Recommendation:
  """One recommended item.

  Attributes:
    item_id: raw item id (as in the dataset's files).
    title: the item's title.
    score: the adapted model's score (a predicted rating, or a logit for
      implicit feedback).
    explanation: an :class:`Explanation`, or None when not requested.
  """

  item_id: Any
  title: str
  score: float
  explanation: Explanation | None


@dataclasses.dataclass(frozen=True, eq=False)
class Recommender:
  """A trained run, ready to serve new users (build with
  ``jaxrec.serving.server.load_recommender``).

  It holds no per-user state: requests neither read nor write anything here
  except, on the first description, the text encoder and item text vectors (not
  per user).

  Attributes:
    config: the run's config.
    bundle: the run's serving bundle (feature tables, raw ids, titles, explanation
      vectors, popularity, rating range).
    model: the run's model (a new user is scored from their feature row).
    params: θ, the restored meta-parameters.
    inner_lr: α, the run's inner rate (learned for Meta-SGD).
    num_steps: K, the inner steps run per request.
    adapter: how a request's ratings adapt the model (``jaxrec.scoring.make_adapter``).
    index: ``str(raw id) -> internal id``.
    item_labels: per item, the names of its categorical feature values.
    server: the jitted serving function (``jaxrec.serving.server``), compiled
      per batch bucket, support bucket and ``k``.
  """

  config: ml_collections.ConfigDict
  bundle: bundle_lib.Bundle
  model: models.RecModel
  params: Any
  inner_lr: Any
  num_steps: int
  adapter: adapters.Adapter
  index: Mapping[str, int]
  item_labels: tuple[tuple[str, ...], ...]
  server: Server

  @property
  def num_items(self) -> int:
    return self.bundle.num_items

  @property
  def item_ids(self) -> np.ndarray:
    """``[I]`` raw item ids (index = internal id)."""
    return self.bundle.item_ids

  @property
  def titles(self) -> np.ndarray:
    """``[I]`` item titles."""
    return self.bundle.titles

  @property
  def popularity(self) -> np.ndarray:
    """``float32[I]`` training ratings per item."""
    return self.bundle.popularity

  @property
  def rating_range(self) -> tuple[float, float]:
    """``(r_min, r_max)`` accepted ratings (``(0, 1)`` for implicit feedback:
    1 = interacted, 0 = negative)."""
    return self.bundle.rating_range

  @functools.cached_property
  def text_encoder(self) -> Any:
    """The run's frozen text encoder (``config.data.text_model``, default the
    installed all-MiniLM-L6-v2: :func:`jaxrec.text.text_encoder`), loaded on the
    first description; needs the ``text`` extra."""
    from jaxrec import text  # pylint: disable=import-outside-toplevel  # the text extra
    return text.text_encoder(self.config.data.text_model or None)

  @functools.cached_property
  def text_vectors(self) -> np.ndarray:
    """``float32[I, d]`` unit-norm item text vectors: the run's
    ``item_table["text"]`` when it reads text, else the bundle's item texts encoded
    on first use (the whole catalogue once, then read from the on-disk cache of
    :func:`jaxrec.text.cached_embeddings`: the one file serving may write)."""
    if "text" in self.bundle.item_table:
      return self.bundle.item_table["text"]
    from jaxrec import text  # pylint: disable=import-outside-toplevel  # the text extra
    return text.cached_embeddings(
        self.text_encoder, self.bundle.item_text.tolist(),
        self.config.data.cache_dir or text.default_cache_dir(), progress=False)

  @functools.cached_property
  def prepared(self) -> Any:
    """The run's full data (``jaxrec.prepare.prepare(config)``: interactions, split,
    tables), re-read from the dataset on first access, for analysis and tests;
    serving never reads it."""
    from jaxrec import prepare  # pylint: disable=import-outside-toplevel  # records import no pipeline
    return prepare.prepare(self.config)


# (params, inner_lr, rows {user field: [B, ...]} (the users' feature rows),
#  items int32[B, S], y float32[B, S], mask float32[B, S] (row weights),
#  rated float32[B, S] (1: the user's own rating), k)
#   -> (top int32[B, k], scores float32[B, k], drivers int32[B, k, D],
#       similarity float32[B, k, D], influence float32[B, k, D]),
# D = jaxrec.serving.explain.MAX_DRIVERS
Server = Callable[..., tuple[jax.Array, ...]]
