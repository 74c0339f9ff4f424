"""Checks of a serving request: a user's ratings, ``user_features`` and ``k``.

Each check raises a ``ValueError`` naming the offending entry (``ratings[n]``,
``list_of_ratings[b][n]``, ``user_features['field']``) and what was wrong, before
anything is padded or compiled.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from jaxrec.serving.records import Recommender

UserRow = tuple[tuple[str, tuple[int, ...]], ...]  # ((field, ids), ...), sorted by field


def check_ratings(recommender: Recommender, ratings: Sequence[tuple[Any, float]],
                  name: str = "ratings", *, allow_empty: bool = False
                  ) -> tuple[np.ndarray, np.ndarray]:
  """One user's ratings as ``(internal item ids int32[n], ratings float32[n])``.

  Args:
    recommender: the run (its ``index`` and ``rating_range``).
    ratings: ``n >= 1`` pairs ``(raw item id, rating)`` (``n >= 0`` with
      ``allow_empty``); a raw id may be given as in the dataset or as its string.
    name: how errors name ``ratings``.
    allow_empty: accept no ratings (the request has another signal).

  Raises:
    ValueError: empty ``ratings`` without ``allow_empty``, an entry that is not an
      ``(item, rating)`` pair, an unknown raw item id, a non-finite rating or one outside
      ``recommender.rating_range``, or an item rated twice (naming the entry).
  """
  if len(ratings) == 0 and not allow_empty:
    raise ValueError(f"{name} is empty: a new user needs at least one rated item, or "
                     "friends, a description or user_features")
  low, high = recommender.rating_range
  items, values, first = [], [], {}
  for n, entry in enumerate(ratings):
    if len(entry) != 2:
      raise ValueError(f"{name}[{n}] must be an (item, rating) pair, got {entry!r}")
    raw, rating = entry
    where = f"{name}[{n}] (item {raw!r})"
    if str(raw) not in recommender.index:
      raise ValueError(f"{where}: unknown item id {raw!r}, not in the "
                       f"{recommender.bundle.dataset} catalogue of "
                       f"{recommender.num_items} items")
    item = recommender.index[str(raw)]
    if item in first:
      raise ValueError(f"{where}: item {raw!r} is rated twice (also in "
                       f"{name}[{first[item]}])")
    first[item] = n
    try:
      rating = float(rating)
    except (TypeError, ValueError) as e:
      raise ValueError(f"{where}: rating {rating!r} is not a number") from e
    if not math.isfinite(rating):
      raise ValueError(f"{where}: rating is {rating}, expected a finite number")
    if not low <= rating <= high:
      raise ValueError(f"{where}: rating {rating:g} is outside the dataset's rating "
                       f"scale [{low:g}, {high:g}]")
    items.append(item)
    values.append(rating)
  return np.asarray(items, np.int32), np.asarray(values, np.float32)


def check_user_features(recommender: Recommender,
                        user_features: Mapping[str, Any] | None) -> UserRow:
  """``user_features`` as a sorted tuple of ``(field, ids)``; ``()`` for None or {}.

  Args:
    recommender: the run (its bundle's user table and vocabulary sizes, and the
      user fields its model reads).
    user_features: ``{user field: id}`` (a sequence of ids for a multi-hot
      field) of the run's user vocabularies.

  Raises:
    ValueError: an unknown field (or the reserved ``user_id``), a field the
      model does not read, an id outside the field's vocabulary, or too many ids
      for a multi-hot field.
  """
  if not user_features:
    return ()
  table, vocab = recommender.bundle.user_table, recommender.bundle.vocab_sizes
  used = set(recommender.model.config.get("user_fields") or ())
  row = []
  for field, value in sorted(user_features.items()):
    if field == "user_id" or field.endswith("_mask") or field not in table:
      choices = sorted(k for k in table if k != "user_id" and not k.endswith("_mask"))
      raise ValueError(f"user_features['{field}']: unknown user field (the run's "
                       f"user fields are {choices})")
    if field not in used:
      raise ValueError(f"user_features['{field}']: the model does not use this field "
                       f"(it reads {sorted(used)})")
    ids = tuple(int(v) for v in np.atleast_1d(value))
    width = table[field].shape[1] if table[field].ndim == 2 else 1
    if len(ids) > width:
      raise ValueError(f"user_features['{field}']: {len(ids)} ids given, the field "
                       f"holds at most {width}")
    bad = [v for v in ids if not 0 <= v < vocab[field]]
    if bad:
      raise ValueError(f"user_features['{field}']: id {bad[0]} is outside the "
                       f"vocabulary [0, {vocab[field]})")
    row.append((field, ids))
  return tuple(row)


def check_k(recommender: Recommender, k: int, most_rated: int) -> None:
  """Checks ``1 <= k <= I - most_rated`` (``most_rated``: the longest support).

  Raises:
    ValueError: ``k`` is not a positive int, or exceeds the unrated items.
  """
  if isinstance(k, bool) or not isinstance(k, int) or k < 1:
    raise ValueError(f"k must be a positive integer, got {k!r}")
  if k > recommender.num_items - most_rated:
    raise ValueError(f"k={k} exceeds the {recommender.num_items - most_rated} "
                     f"unrated items of the catalogue")
