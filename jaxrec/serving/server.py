"""Recommending for brand-new users from a trained run (deployment).

:func:`load_recommender` reads a run directory once: ``config.json``, the best
Orbax checkpoint (:func:`jaxrec.run.restore_best`) and the serving bundle
(:mod:`jaxrec.serving.bundle`), never the dataset, and builds a
:class:`~jaxrec.serving.records.Recommender`. :func:`recommend` then serves one new
user from a handful of ratings: the meta-learned parameters θ are adapted on the
ratings (the support set) with the run's adapter (:mod:`jaxrec.adapters`), e.g.
the inner loop

  φ₀ = θ,   φₖ₊₁ = φₖ − α ⊙ ∇L_support(φₖ)   (k = 0 .. K−1),

every catalogue item is scored with φ_K, the rated items are removed and the
``k`` best are returned with explanations (:mod:`jaxrec.serving.explain`).
What the user says besides ratings (friends, a description of their taste) enters
the support set as weighted rows (:mod:`jaxrec.serving.signals`), so a user with
no rating at all can be served from those alone. :func:`recommend_batch` serves
many users in one vmapped call.

The new user. The user is unknown to the model: their feature row
(:func:`new_user_rows`) has every field 0, the "unknown" id of every user field
(so ``user_id`` is the shared unknown id, exactly as for held-out users during
training). ``user_features`` (e.g. ``{"gender": 2, "age": 3}``, ids of the run's
user vocabularies) and, for a model whose prior reads the ``"friends"`` field,
``friends`` fill that row. The row is a runtime input of the serving function,
like the ratings: nothing about a user is compiled in or keys a cache. A serving
function compiles once per (batch size bucket, support length bucket, ``k``),
on its first request (and per power-of-two width of a multi-hot user field that
a request overfills, :func:`new_user_rows`).

Candidates. Every item of the catalogue except the user's rated ones, including
the items the run held out as validation/test items (they are scored from their
side features and text; their id embedding is the shared unknown one): a deployed
system recommends from the whole catalogue.

Privacy. The user's adapted weights φ_K exist only inside the jitted serving
computation: only the top-k item ids, their scores and the similarities used by
the explanations leave it. φ_K is never returned, stored on the recommender, or
written anywhere, and serving writes nothing to disk (the run directory is only
read; the one exception is the text-vector cache of :mod:`jaxrec.text`, written
once when a run without text vectors serves its first description: item texts,
nothing of any user). The ratings are not kept either.
"""

from __future__ import annotations

import functools
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxrec import adapters
from jaxrec import meta
from jaxrec import models
from jaxrec import run as run_lib
from jaxrec import scoring
from jaxrec import train as train_lib
from jaxrec.serving import bundle as bundle_lib
from jaxrec.serving import explain as explain_lib
from jaxrec.serving import requests
from jaxrec.serving import signals as signals_lib
from jaxrec.serving.records import Recommendation
from jaxrec.serving.records import Recommender
from jaxrec.serving.records import Server

MIN_BUCKET = 16          # the shortest padded support length


def support_bucket(n: int) -> int:
  """The padded support length for ``n`` ratings: ``max(16, 2^⌈log₂ n⌉)``."""
  return max(MIN_BUCKET, 1 << max(n - 1, 0).bit_length())


def new_user_rows(user_table: Mapping[str, np.ndarray],
                  rows: Sequence[requests.UserRow]) -> dict[str, np.ndarray]:
  """``B`` new users' feature rows: every field of ``user_table`` 0 (the unknown
  id), then the fields of ``rows[b]`` (a multi-hot field gets its ids in order and
  mask 1 on them, and is widened to a power of two when a row holds more ids than
  the table's width). Returns ``{field: [B, ...]}`` arrays."""
  width = {k: v.shape[1] for k, v in user_table.items() if v.ndim == 2}
  for row in rows:
    for field, ids in row:
      if field in width and len(ids) > width[field]:
        width[field] = width[f"{field}_mask"] = 1 << (len(ids) - 1).bit_length()
  table = {k: np.zeros((len(rows),) + ((width[k],) if k in width else ()), v.dtype)
           for k, v in user_table.items()}
  for b, row in enumerate(rows):
    for field, ids in row:
      if table[field].ndim == 1:
        table[field][b] = ids[0]
      else:
        table[field][b, :len(ids)] = ids
        table[f"{field}_mask"][b, :len(ids)] = 1.0
  return table


def _make_server(model: models.RecModel, adapter: adapters.Adapter, num_steps: int,
                 bundle: bundle_lib.Bundle) -> Server:
  """The jitted batched request (shapes in the ``Server`` alias; ``k`` static).

  Per user (feature row ``row``, :func:`new_user_rows`): adapt on the support set
  (rows weighted by ``mask``), score every item, drop the rated ones (``rated``)
  and take the top ``k``; for each of those, the ``D`` support positions of
  largest influence ``sim(i, j) · w_j`` (:mod:`jaxrec.serving.explain`), their
  similarities and influences (positions that are not the user's ratings get
  influence −1).
  """
  num_items = bundle.num_items
  candidates = jnp.arange(num_items, dtype=jnp.int32)
  vectors = jnp.asarray(bundle.item_vectors)
  low, high = bundle.rating_range

  def one(params, inner_lr, row, items, y, mask, rated, k):
    support = {"user": row, "item": items, "y": y, "mask": mask}
    phi = adapter(params, inner_lr, num_steps, support)
    scores = model.predict(phi, row, candidates)
    seen = jnp.zeros(num_items, bool).at[items].max(rated > 0)
    top_scores, top = lax.top_k(jnp.where(seen, -jnp.inf, scores), k)
    similarity = vectors[top] @ vectors[items].T  # [k, S]
    liked = (y - low) / (high - low) if high > low else jnp.ones_like(y)
    influence = jnp.where(rated > 0, similarity * liked, -1.0)
    top_influence, drivers = lax.top_k(influence,
                                       min(explain_lib.MAX_DRIVERS, items.shape[0]))
    return (top, top_scores, drivers,
            jnp.take_along_axis(similarity, drivers, axis=1), top_influence)

  @functools.partial(jax.jit, static_argnames="k")
  def serve(params, inner_lr, rows, items, y, mask, rated, *, k):
    return jax.vmap(functools.partial(one, k=k), in_axes=(None, None, 0, 0, 0, 0, 0))(
        params, inner_lr, rows, items, y, mask, rated)
  return serve


def load_recommender(workdir: str | pathlib.Path, *,
                     num_steps: int | None = None) -> Recommender:
  """Builds the :class:`~jaxrec.serving.records.Recommender` of a meta_train run
  directory from its config, best checkpoint and serving bundle only.

  Args:
    workdir: the run directory (``config.json``, ``best/``, ``serving.json``,
      ``serving.npz``); only read.
    num_steps: inner steps per request; None uses the run's
      ``config.meta.num_steps``.

  Returns:
    The recommender (the default serving function is built, not yet compiled).

  Raises:
    FileNotFoundError: no ``config.json``, no serving bundle or no best
      checkpoint in ``workdir``.
    ValueError: a negative or non-integer ``num_steps``, or a bad bundle
      (:func:`jaxrec.serving.bundle.read_bundle`).
  """
  config = run_lib.load_config(workdir)
  steps = meta.core.check_num_steps(config.meta.num_steps if num_steps is None
                                    else num_steps)
  bundle = bundle_lib.read_bundle(workdir)

  model = train_lib.model_of(config, bundle)
  state = run_lib.restore_best(workdir, config, model)
  adapter = scoring.make_adapter(config, model)
  return Recommender(
      config=config, bundle=bundle, model=model, params=state.params,
      inner_lr=scoring.inner_rate(config, state), num_steps=steps, adapter=adapter,
      index={str(raw): i for i, raw in enumerate(bundle.item_ids.tolist())},
      item_labels=explain_lib.item_labels(bundle.item_table, bundle.vocab_names,
                                          bundle.num_items),
      server=_make_server(model, adapter, steps, bundle))


def _serve(recommender: Recommender, supports: Sequence[tuple[np.ndarray, np.ndarray]],
           k: int, explain: bool, user_rows: Sequence[requests.UserRow],
           extra: Sequence[signals_lib.Signals] | None = None
           ) -> list[list[Recommendation]]:
  """Pads each checked support (the ratings, then the pseudo rows of ``extra``) to
  ``[B', S]`` (both powers of two, ``S`` per :func:`support_bucket`) and the
  users' feature rows to ``B'``, runs the serving function once and builds the
  lists."""
  extra = extra or [None] * len(supports)
  high = recommender.rating_range[1]
  rows = []
  for (ids, values), more in zip(supports, extra):
    pseudo = (np.zeros(0, np.int32), np.zeros(0, np.float32)) if more is None else (
        more.items, more.weights)
    rows.append((np.concatenate([ids, pseudo[0]]),
                 np.concatenate([values, np.full(len(pseudo[0]), high, np.float32)]),
                 np.concatenate([np.ones(len(ids), np.float32), pseudo[1]]), len(ids)))
  length = support_bucket(max(len(items) for items, *_ in rows))
  batch = 1 << (len(rows) - 1).bit_length()
  items = np.zeros((batch, length), np.int32)
  y, mask, rated = (np.zeros((batch, length), np.float32) for _ in range(3))
  for b, (ids, values, weights, own) in enumerate(rows):
    items[b, :len(ids)], y[b, :len(ids)], mask[b, :len(ids)] = ids, values, weights
    rated[b, :own] = 1.0
  users = new_user_rows(recommender.bundle.user_table,
                        list(user_rows) + [()] * (batch - len(user_rows)))
  top, scores, drivers, similarity, influence = jax.device_get(recommender.server(
      recommender.params, recommender.inner_lr, users, items, y, mask, rated, k=k))
  results = []
  for b, ((ids, values), more) in enumerate(zip(supports, extra)):
    results.append([Recommendation(
        item_id=recommender.item_ids[i].item(), title=str(recommender.titles[i]),
        score=s, explanation=explain_lib.explain(
            recommender, i, ids, values, drivers[b, r], similarity[b, r],
            influence[b, r], more) if explain else None)
        for r, (i, s) in enumerate(zip(top[b].tolist(), scores[b].tolist()))])
  return results


def recommend(recommender: Recommender, ratings: Sequence[tuple[Any, float]] = (), *,
              k: int = 10, explain: bool = True,
              user_features: Mapping[str, Any] | None = None,
              friends: Sequence[Any] | None = None,
              description: str | None = None) -> list[Recommendation]:
  """The top-``k`` unrated catalogue items for a new user, best first.

  Adapts θ on the ratings (the run's adapter, :mod:`jaxrec.adapters`:
  ``num_steps`` steps of :func:`jaxrec.meta.adapt` with the run's inner rate,
  from θ or from the model's closed-form solve; the user being the all-unknown
  new-user row or the ``user_features`` row), scores every item of the catalogue
  but the rated ones and keeps the ``k`` highest scores. ``friends`` and
  ``description`` add weighted rows to the support set
  (:mod:`jaxrec.serving.signals`), except that a model whose prior reads the
  training friends (``user_fields`` with ``"friends"``) gets them in the user's
  row instead (their listening still drives the explanations). All are runtime
  inputs: they compile nothing per user (a request with more training friends
  than any user of the run's data pads the row to the next power of two, one
  compilation per such width). The adapted weights never leave the call.

  Args:
    recommender: from :func:`load_recommender`.
    ratings: ``n >= 0`` pairs ``(raw item id, rating)``; a raw id may be given as
      in the dataset (e.g. ``50``) or as a string (``"50"``). Empty only with
      ``user_features``, ``friends`` or ``description``.
    k: number of recommendations.
    explain: attach an :class:`~jaxrec.serving.records.Explanation` to each
      recommendation.
    user_features: optional ``{user field: id}`` (a sequence of ids for a
      multi-hot field) of the run's user vocabularies, e.g.
      ``{"gender": 2, "age": 3}``.
    friends: optional raw user ids of the user's friends (a dataset with a friend
      graph, e.g. Last.fm); only the run's training users count.
    description: optional sentence about the user's taste, e.g. "melancholic
      indie, some jazz" (needs the ``text`` extra).

  Returns:
    ``k`` recommendations with scores in non-increasing order.

  Raises:
    ValueError: no ratings and no other signal, an unknown item id, a rating
      that is NaN, infinite or outside the dataset's rating scale, an item rated
      twice, a bad ``k`` (not in ``[1, #unrated items]``), bad ``user_features``
      (:mod:`jaxrec.serving.requests`), bad ``friends`` or ``description``
      (:mod:`jaxrec.serving.signals`), or the friends given both as ``friends``
      and in ``user_features``.
  """
  has_signal = bool(user_features) or bool(friends) or description is not None
  support = requests.check_ratings(recommender, ratings, allow_empty=has_signal)
  requests.check_k(recommender, k, len(support[0]))
  row = requests.check_user_features(recommender, user_features)
  users = (signals_lib.check_friends(recommender, friends) if friends is not None
           else np.zeros(0, np.int64))
  friends_prior = "friends" in (recommender.model.config.get("user_fields") or ())
  # a model whose prior reads the friends gets them in the row, not as extra rows
  extra = signals_lib.signals(recommender, support[0], users, description,
                              **({"friends_weight": 0.0} if friends_prior else {}))
  if friends_prior and len(users):
    if "friends" in dict(row):
      raise ValueError("friends are given twice (friends= and user_features['friends']); "
                       "give friends=[raw user ids] only")
    codes = recommender.bundle.user_table["user_id"][users]
    row = tuple(sorted(row + (("friends", tuple(codes.tolist())),)))
  return _serve(recommender, [support], k, explain, [row], [extra])[0]


def recommend_batch(recommender: Recommender,
                    list_of_ratings: Sequence[Sequence[tuple[Any, float]]], k: int = 10,
                    *, explain: bool = True) -> list[list[Recommendation]]:
  """:func:`recommend` for many new users (all-unknown user row) in one call.

  The supports are padded to a common length (:func:`support_bucket` of the
  longest) and the batch to a power of two with empty tasks, so a server
  compiles once per ``(batch bucket, support bucket, k)``; one vmapped,
  jitted call adapts and scores every user.

  Args:
    recommender: from :func:`load_recommender`.
    list_of_ratings: ``B >= 1`` users' ratings, each as in :func:`recommend`.
    k: recommendations per user.
    explain: attach explanations.

  Returns:
    ``B`` lists of ``k`` recommendations, in the order of ``list_of_ratings``.

  Raises:
    ValueError: an empty ``list_of_ratings``, or any error of
      :func:`recommend` (naming ``list_of_ratings[b]``).
  """
  if len(list_of_ratings) == 0:
    raise ValueError("list_of_ratings is empty: give at least one user's ratings")
  supports = [requests.check_ratings(recommender, r, f"list_of_ratings[{b}]")
              for b, r in enumerate(list_of_ratings)]
  requests.check_k(recommender, k, max(len(items) for items, _ in supports))
  return _serve(recommender, supports, k, explain, [()] * len(supports))
