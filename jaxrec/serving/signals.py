"""What a new user says besides ratings: their friends and a sentence of their own.

Both become weighted rows of the support set that the run's adapter fits
(:mod:`jaxrec.adapters`; a row of weight ``m`` counts as ``m`` copies of itself in
the losses and in the fold-in solve), at the top of the rating scale ``r_max``
(1 for implicit feedback), next to the user's own ratings (weight 1):

* friends ``F`` (raw user ids; only the run's training users count, and only
  their training items, so nothing propagates through held-out users): every item
  ``i`` with ``f(i) = |{v ∈ F : v has a training row on i}| / |F| > 0`` gets a row
  of weight ``γ_F f(i)``;
* a description ``d``: its frozen text vector ``t(d)`` (the run's text encoder,
  :func:`jaxrec.text.text_encoder`) is compared by cosine ``c(i) = t(d) · t_i`` to
  the text vector of every training item the user has not rated (the items the
  model knows by id, as in the sentence-proxy experiment); the
  :data:`DESCRIPTION_ITEMS` items of largest ``c(i) > 0`` get a row of weight
  ``γ_D``.

An item the user rated gets no such row (their rating is the row). The pseudo rows
are ordinary support rows of the jitted server, padded to a power-of-two length:
nothing user-specific reaches a compiled function's cache key.

Weights: ``γ_F = FRIENDS_WEIGHT`` is the friends weight the zero-ratings
experiment's implicit-ALS fold-in with friends chose most often on validation users
at k = 1 and 3 (``experiments/results/zero_ratings/lastfm.json``; the weight of a
friends' item relative to a support positive, the same meaning as here);
``γ_D = DESCRIPTION_WEIGHT`` and :data:`DESCRIPTION_ITEMS` are the (weight,
nearest items) the sentence-proxy experiment's implicit-ALS fold-in chose most often
at k = 3 on Last.fm validation users (:mod:`jaxrec.sentence_proxy`,
``experiments/results/zero_ratings/sentences_lastfm.json``). Both are modes over the
five seeds' choices; each seed chose on its own validation users, which can be
another seed's test users. The rows' mass also enters the fold-in's support size
``n`` and so its learned shrinkage, which was fitted on real ratings only.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxrec.serving.records import Recommender

FRIENDS_WEIGHT = 0.1
DESCRIPTION_WEIGHT = 0.1
DESCRIPTION_ITEMS = 20
MIN_FRIENDS = 3  # friends behind a friend-based explanation, at least


@dataclasses.dataclass(frozen=True)
class Signals:
  """A request's pseudo rows and what the explanations need of them.

  Attributes:
    items: ``int32[m]`` the items of the pseudo rows.
    weights: ``float32[m]`` their weights (``> 0``).
    friends: ``int32[I]`` per item, how many of the given training friends have a
      training row on it (all 0 without friends).
    num_friends: ``|F|``, the given friends who are training users.
    description: the description, or None.
    matches: ``bool[I]``: the item is one of the description's nearest items.
  """

  items: np.ndarray
  weights: np.ndarray
  friends: np.ndarray
  num_friends: int
  description: str | None
  matches: np.ndarray


def check_friends(recommender: Recommender, friends: Sequence[Any]) -> np.ndarray:
  """``int64[|F|]`` the internal ids of the given friends who are training users.

  A friend who is a user of the dataset but not a training user of the run (a
  held-out user) contributes nothing; a warning counts them.

  Raises:
    ValueError: the run's dataset has no friend graph, ``friends`` is a single
      string, an id is not a user of the run's dataset, or is given twice
      (naming the entry ``friends[n]``).
  """
  bundle = recommender.bundle
  if bundle.train_offsets is None:
    raise ValueError(f"friends: the run's dataset {bundle.dataset!r} has no friend graph")
  if isinstance(friends, str):
    raise ValueError("friends must be a sequence of raw user ids, got a single str")
  index = {str(raw): u for u, raw in enumerate(bundle.user_ids.tolist())}
  users, first = [], {}
  for n, raw in enumerate(friends):
    if str(raw) not in index:
      raise ValueError(f"friends[{n}]: unknown user id {raw!r}, not one of the "
                       f"{len(index)} users of {bundle.dataset}")
    user = index[str(raw)]
    if user in first:
      raise ValueError(f"friends[{n}]: user {raw!r} is given twice (also friends"
                       f"[{first[user]}])")
    first[user] = n
    users.append(user)
  users = np.asarray(users, np.int64)
  listening = np.diff(bundle.train_offsets)[users] > 0 if len(users) else users > 0
  if not listening.all():
    warnings.warn(f"{int((~listening).sum())} of {len(users)} friends are not training "
                  "users of the run (or have no training item): they contribute nothing",
                  stacklevel=3)
  return users[listening]


def signals(recommender: Recommender, rated: np.ndarray, friends: np.ndarray,
            description: str | None, *, friends_weight: float = FRIENDS_WEIGHT,
            description_weight: float = DESCRIPTION_WEIGHT) -> Signals:
  """The pseudo rows of a request (module docstring).

  Args:
    recommender: the run.
    rated: ``int32[n]`` the items the user rated (they get no pseudo row).
    friends: from :func:`check_friends` (may be empty).
    description: the user's sentence, or None.
    friends_weight, description_weight: ``γ_F``, ``γ_D``.

  Raises:
    ValueError: an empty or whitespace-only description; as
      :func:`jaxrec.text.text_encoder` when the run's text model cannot be loaded.
  """
  bundle = recommender.bundle
  weights = np.zeros(bundle.num_items, np.float64)
  counts = np.zeros(bundle.num_items, np.int32)
  for user in friends:
    np.add.at(counts, bundle.train_items[bundle.train_offsets[user]:
                                         bundle.train_offsets[user + 1]], 1)
  if len(friends):
    weights += friends_weight * counts / len(friends)
  matches = np.zeros(bundle.num_items, bool)
  if description is not None:
    if not isinstance(description, str) or not description.strip():
      raise ValueError(f"description must be a non-empty sentence, got {description!r}")
    cosine = recommender.text_vectors @ recommender.text_encoder.encode(
        [description], progress=False)[0]
    cosine = np.where(bundle.item_table["item_id"] > 0, cosine, -np.inf)
    cosine[rated] = -np.inf
    nearest = np.argsort(-cosine, kind="stable")[:DESCRIPTION_ITEMS]
    matches[nearest[cosine[nearest] > 0]] = True
    weights += description_weight * matches
  weights[rated] = 0.0
  items = np.flatnonzero(weights).astype(np.int32)
  return Signals(items=items, weights=weights[items].astype(np.float32), friends=counts,
                 num_friends=len(friends), description=description, matches=matches)
