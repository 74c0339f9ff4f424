"""Recommending for a brand-new user from a trained run (deployment).

:func:`load_recommender` reads a run directory once (``config.json`` and the best
Orbax checkpoint, via :func:`jaxrec.evaluate.load_run`) and builds a
:class:`Recommender`. :func:`recommend` then serves one new user from a handful of
ratings: the meta-learned parameters θ are adapted on the ratings (the support
set) with the run's inner loop,

  φ₀ = θ,   φₖ₊₁ = φₖ − α ⊙ ∇L_support(φₖ)   (k = 0 .. K−1),

every catalogue item is scored with φ_K, the rated items are removed and the
``k`` best are returned with explanations. :func:`recommend_batch` serves many
users in one vmapped call.

The new user. The user is unknown to the model: the recommender's model is
rebuilt over the run's user table plus one extra "new user" row (index ``U``)
whose fields are all 0, the "unknown" id of every user field (so ``user_id`` is
the shared unknown id, exactly as for held-out users during training).
``user_features`` (e.g. ``{"gender": 2, "age": 3}``, ids of the run's user
vocabularies) fill that row instead; since the tables are compiled into the
model, each distinct feature row builds and compiles its own serving function
once (about a second), kept in a small per-recommender cache
(:data:`FEATURE_CACHE_SIZE` rows, least recently used dropped). Otherwise a
serving function compiles once per (batch size bucket, support length bucket,
``k``), on its first request.

Candidates. Every item of the catalogue except the user's rated ones, including
the items the run held out as validation/test items (they are scored from their
side features and text; their id embedding is the shared unknown one): a deployed
system recommends from the whole catalogue.

Privacy. The user's adapted weights φ_K exist only inside the jitted serving
computation: only the top-k item ids, their scores and the similarities used by
the explanations leave it. φ_K is never returned, stored on the recommender, or
written anywhere, and serving writes nothing to disk (the checkpoint is opened
read only; only loading a run that uses text vectors may fill the text-vector
cache, when it is missing). The ratings are not kept either; only ``user_features`` rows (category
ids, no ratings) key the compiled-function cache.

Explanations. For each recommended item, the rated items that drove it: the rated
items ranked by ``sim(i, j) · w_j``, where ``sim`` is the cosine similarity of the
item vectors used for the catalogue metrics (text vectors when the run uses
them, else the one-hot categorical item features) and
``w_j = (r_j − r_min) / (r_max − r_min)`` how much the user liked item ``j``;
items with ``sim · w ≤ 0`` never count. Each driver carries the feature values
(genres, tags, year bucket, ...) it shares with the recommendation.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import pathlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax import lax

from jaxrec import adapters
from jaxrec import evaluate
from jaxrec import meta
from jaxrec import models
from jaxrec import train as train_lib

MIN_BUCKET = 16          # the shortest padded support length
MAX_DRIVERS = 2          # rated items named per explanation
FEATURE_CACHE_SIZE = 8   # compiled serving functions kept for user_features rows
TITLE_SEPARATOR = " — "  # the readers' item text is "Title (Year) — Genre1, Genre2"

# (params, inner_lr, items int32[B, S], y float32[B, S], mask float32[B, S], k)
#   -> (top int32[B, k], scores float32[B, k], drivers int32[B, k, D],
#       similarity float32[B, k, D], influence float32[B, k, D]), D = MAX_DRIVERS
Server = Callable[..., tuple[jax.Array, ...]]


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
    drivers: up to :data:`MAX_DRIVERS` rated items, most influential first
      (empty when no liked rated item resembles the recommendation).
    popularity: the item's number of training ratings.
  """

  text: str
  drivers: tuple[Driver, ...]
  popularity: int


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
  """A trained run, ready to serve new users (build with :func:`load_recommender`).

  It holds no per-user state: requests neither read nor write anything here
  except the compiled-function cache of ``servers``.

  Attributes:
    config: the run's config.
    prepared: the run's data, split and feature tables (user table without the
      new-user row).
    model: the run's model over the user table plus the all-unknown new-user row.
    params: θ, the restored meta-parameters.
    inner_lr: α, the run's inner rate (learned for Meta-SGD).
    num_steps: K, the inner steps run per request.
    adapter: how a request's ratings adapt the model (``jaxrec.train.make_adapter``).
    item_ids: ``[I]`` raw item ids (index = internal id).
    titles: ``[I]`` item titles.
    index: ``str(raw id) -> internal id``.
    popularity: ``float32[I]`` training ratings per item.
    item_labels: per item, the names of its categorical feature values.
    rating_range: ``(r_min, r_max)`` accepted ratings (``(0, 1)`` for implicit
      feedback: 1 = interacted, 0 = negative).
    servers: ``servers(row) -> Server`` for a user-feature row (a tuple of
      ``(field, ids)`` pairs; ``()`` is the all-unknown row), least-recently-used
      cached.
  """

  config: ml_collections.ConfigDict
  prepared: train_lib.Prepared
  model: models.RecModel
  params: Any
  inner_lr: Any
  num_steps: int
  adapter: adapters.Adapter
  item_ids: np.ndarray
  titles: np.ndarray
  index: Mapping[str, int]
  popularity: np.ndarray
  item_labels: tuple[tuple[str, ...], ...]
  rating_range: tuple[float, float]
  servers: Callable[[tuple], Server]

  @property
  def num_items(self) -> int:
    return len(self.item_ids)


def support_bucket(n: int) -> int:
  """The padded support length for ``n`` ratings: ``max(16, 2^⌈log₂ n⌉)``."""
  return max(MIN_BUCKET, 1 << max(n - 1, 0).bit_length())


def _titles(item_text: np.ndarray) -> np.ndarray:
  """Item titles: the item text up to the readers' ``" — "`` separator."""
  return np.asarray([str(t).split(TITLE_SEPARATOR)[0] for t in item_text])


def _item_labels(prepared: train_lib.Prepared) -> tuple[tuple[str, ...], ...]:
  """Per item, the names of its non-zero categorical feature values (fields with
  ``vocab_names`` only), field by field in table order."""
  inter = prepared.interactions
  columns = []
  for field, ids in inter.item_features.items():
    names = inter.vocab_names.get(field)
    if names is None or field.endswith("_mask"):
      continue
    ids = ids.reshape(len(ids), -1)
    mask = inter.item_features.get(f"{field}_mask", np.ones(ids.shape)).reshape(ids.shape)
    columns.append([tuple(names[v] for v, m in zip(row, row_mask) if v and m > 0)
                    for row, row_mask in zip(ids, mask)])
  return tuple(sum((col[i] for col in columns), ()) for i in range(inter.num_items))


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
  """Rows scaled to unit L2 norm (zero rows stay zero)."""
  norms = np.linalg.norm(vectors, axis=1, keepdims=True)
  return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def _new_user_table(user_table: Mapping[str, np.ndarray],
                    row: Sequence[tuple[str, tuple[int, ...]]]) -> dict[str, np.ndarray]:
  """``user_table`` with one extra row: 0 everywhere, then the fields of ``row``
  (a multi-hot field gets its ids in order and mask 1 on them)."""
  table = {k: np.concatenate([v, np.zeros((1,) + v.shape[1:], v.dtype)])
           for k, v in user_table.items()}
  for field, ids in row:
    if table[field].ndim == 1:
      table[field][-1] = ids[0]
    else:
      table[field][-1, :len(ids)] = ids
      table[f"{field}_mask"][-1, :len(ids)] = 1.0
  return table


def _make_server(model: models.RecModel, adapter: adapters.Adapter, num_steps: int,
                 user: int, num_items: int, item_vectors: np.ndarray,
                 rating_range: tuple[float, float]) -> Server:
  """The jitted batched request (shapes in the ``Server`` alias; ``k`` static).

  Per user: adapt on the support set, score every item, drop the rated ones and
  take the top ``k``; for each of those, the ``D`` support positions of largest
  influence ``sim(i, j) · w_j`` (module docstring), their similarities and
  influences (padded positions get influence −1).
  """
  candidates = jnp.arange(num_items, dtype=jnp.int32)
  user = jnp.int32(user)
  vectors = jnp.asarray(item_vectors)
  low, high = rating_range

  def one(params, inner_lr, items, y, mask, k):
    support = {"user": user, "item": items, "y": y, "mask": mask}
    phi = adapter(params, inner_lr, num_steps, support)
    scores = model.predict(phi, user, candidates)
    rated = jnp.zeros(num_items, bool).at[items].max(mask > 0)
    top_scores, top = lax.top_k(jnp.where(rated, -jnp.inf, scores), k)
    similarity = vectors[top] @ vectors[items].T  # [k, S]
    liked = (y - low) / (high - low) if high > low else jnp.ones_like(y)
    influence = jnp.where(mask > 0, similarity * liked, -1.0)
    top_influence, drivers = lax.top_k(influence, min(MAX_DRIVERS, items.shape[0]))
    return (top, top_scores, drivers,
            jnp.take_along_axis(similarity, drivers, axis=1), top_influence)

  @functools.partial(jax.jit, static_argnames="k")
  def serve(params, inner_lr, items, y, mask, *, k):
    return jax.vmap(functools.partial(one, k=k), in_axes=(None, None, 0, 0, 0))(
        params, inner_lr, items, y, mask)
  return serve


def load_recommender(workdir: str | pathlib.Path, *,
                     num_steps: int | None = None) -> Recommender:
  """Builds the :class:`Recommender` of a meta_train run directory.

  Args:
    workdir: the run directory (``config.json`` and ``best/``); only read.
    num_steps: inner steps per request; None uses the run's
      ``config.meta.num_steps``.

  Returns:
    The recommender (the default serving function is built, not yet compiled).

  Raises:
    FileNotFoundError: no ``config.json`` or no best checkpoint in ``workdir``.
    ValueError: a negative or non-integer ``num_steps``.
  """
  config, prepared, _, state = evaluate.load_run(workdir)
  steps = meta.core.check_num_steps(config.meta.num_steps if num_steps is None
                                    else num_steps)
  inter = prepared.interactions
  item_vectors = _unit_rows(evaluate.item_vectors(prepared))
  rating_range = (0.0, 1.0) if inter.implicit else tuple(map(float, inter.rating_scale))

  def build(row: tuple) -> tuple[models.RecModel, Any, Server]:
    model = train_lib.build_model(config, dataclasses.replace(
        prepared, user_table=_new_user_table(prepared.user_table, row)))
    adapter = train_lib.make_adapter(config, model)
    return model, adapter, _make_server(model, adapter, steps, inter.num_users,
                                     inter.num_items, item_vectors, rating_range)

  model, adapter, default = build(())
  cached = functools.lru_cache(maxsize=FEATURE_CACHE_SIZE)(lambda row: build(row)[2])

  return Recommender(
      config=config, prepared=prepared, model=model, params=state.params,
      inner_lr=train_lib.inner_rate(config, state), num_steps=steps,
      adapter=adapter, item_ids=inter.item_ids, titles=_titles(inter.item_text),
      index={str(raw): i for i, raw in enumerate(inter.item_ids.tolist())},
      popularity=prepared.popularity, item_labels=_item_labels(prepared),
      rating_range=rating_range,
      servers=lambda row: default if not row else cached(row))


def _support(recommender: Recommender, ratings: Sequence[tuple[Any, float]],
             name: str = "ratings") -> tuple[np.ndarray, np.ndarray]:
  """Checks one user's ratings; returns ``(internal ids int32[n], y float32[n])``.

  Raises:
    ValueError: empty ``ratings``, an entry that is not an ``(item, rating)``
      pair, an unknown raw item id, a non-finite rating or one outside
      ``recommender.rating_range``, or an item rated twice (naming the entry).
  """
  if len(ratings) == 0:
    raise ValueError(f"{name} is empty: a new user needs at least one rated item")
  low, high = recommender.rating_range
  items, values, first = [], [], {}
  for n, entry in enumerate(ratings):
    if len(entry) != 2:
      raise ValueError(f"{name}[{n}] must be an (item, rating) pair, got {entry!r}")
    raw, rating = entry
    where = f"{name}[{n}] (item {raw!r})"
    if str(raw) not in recommender.index:
      raise ValueError(f"{where}: unknown item id {raw!r}, not in the "
                       f"{recommender.prepared.interactions.name} catalogue of "
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


def _feature_row(recommender: Recommender, user_features: Mapping[str, Any] | None
                 ) -> tuple[tuple[str, tuple[int, ...]], ...]:
  """``user_features`` as a sorted tuple of ``(field, ids)``; ``()`` for None.

  Raises:
    ValueError: an unknown field (or the reserved ``user_id``), a field the
      model does not read, an id outside the field's vocabulary, or too many ids
      for a multi-hot field.
  """
  if not user_features:
    return ()
  table, vocab = recommender.prepared.user_table, recommender.prepared.vocab_sizes
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


def _check_k(recommender: Recommender, k: int, most_rated: int) -> None:
  """Raises ValueError unless ``1 <= k <= I - most_rated`` (an int)."""
  if isinstance(k, bool) or not isinstance(k, int) or k < 1:
    raise ValueError(f"k must be a positive integer, got {k!r}")
  if k > recommender.num_items - most_rated:
    raise ValueError(f"k={k} exceeds the {recommender.num_items - most_rated} "
                     f"unrated items of the catalogue")


def _explain(recommender: Recommender, item: int, support: np.ndarray, y: np.ndarray,
             drivers: np.ndarray, similarity: np.ndarray,
             influence: np.ndarray) -> Explanation:
  """The :class:`Explanation` of ``item``: the support positions ``drivers``
  (most influential first) with positive ``influence`` name the rated items
  (``support``, ratings ``y``) that drove it."""
  labels = recommender.item_labels[item]
  found = []
  for j, sim in zip(drivers[influence > 0].tolist(), similarity[influence > 0].tolist()):
    shared = set(recommender.item_labels[support[j]])
    found.append(Driver(
        item_id=recommender.item_ids[support[j]].item(),
        title=str(recommender.titles[support[j]]), rating=float(y[j]),
        similarity=sim, shared=tuple(name for name in labels if name in shared)))
  popularity = int(recommender.popularity[item])
  if found:
    high = recommender.rating_range[1]
    reasons = " and ".join(f"'{d.title}' ({d.rating:g}/{high:g})" for d in found)
    shared_names = list(dict.fromkeys(n for d in found for n in d.shared))
    text = f"because you rated {reasons}"
    if shared_names:
      text += f"; shares {', '.join(shared_names)}"
  else:
    text = (f"none of your liked items resembles it; rated by {popularity} "
            "training users")
  return Explanation(text=text, drivers=tuple(found), popularity=popularity)


def _serve(recommender: Recommender, supports: Sequence[tuple[np.ndarray, np.ndarray]],
           k: int, explain: bool, row: tuple) -> list[list[Recommendation]]:
  """Pads the checked supports to ``[B', S]`` (both powers of two, ``S`` per
  :func:`support_bucket`), runs the serving function once and builds the lists."""
  length = support_bucket(max(len(items) for items, _ in supports))
  rows = 1 << (len(supports) - 1).bit_length()
  items = np.zeros((rows, length), np.int32)
  y = np.zeros((rows, length), np.float32)
  mask = np.zeros((rows, length), np.float32)
  for b, (ids, values) in enumerate(supports):
    items[b, :len(ids)], y[b, :len(ids)], mask[b, :len(ids)] = ids, values, 1.0
  server = recommender.servers(row)
  top, scores, drivers, similarity, influence = jax.device_get(
      server(recommender.params, recommender.inner_lr, items, y, mask, k=k))
  results = []
  for b, (ids, values) in enumerate(supports):
    results.append([Recommendation(
        item_id=recommender.item_ids[i].item(), title=str(recommender.titles[i]),
        score=s, explanation=_explain(recommender, i, ids, values, drivers[b, r],
                                      similarity[b, r], influence[b, r])
        if explain else None)
        for r, (i, s) in enumerate(zip(top[b].tolist(), scores[b].tolist()))])
  return results


def recommend(recommender: Recommender, ratings: Sequence[tuple[Any, float]], *,
              k: int = 10, explain: bool = True,
              user_features: Mapping[str, Any] | None = None) -> list[Recommendation]:
  """The top-``k`` unrated catalogue items for a new user, best first.

  Adapts θ on the ratings (the run's adapter, :mod:`jaxrec.adapters`:
  ``num_steps`` steps of :func:`jaxrec.meta.adapt` with the run's inner rate,
  from θ or from the model's closed-form solve; the user being the all-unknown new-user row or the
  ``user_features`` row), scores every item of the catalogue but the rated ones
  and keeps the ``k`` highest scores. The adapted weights never leave the call.

  Args:
    recommender: from :func:`load_recommender`.
    ratings: ``n >= 1`` pairs ``(raw item id, rating)``; a raw id may be given as
      in the dataset (e.g. ``50``) or as a string (``"50"``).
    k: number of recommendations.
    explain: attach an :class:`Explanation` to each recommendation.
    user_features: optional ``{user field: id}`` (a sequence of ids for a
      multi-hot field) of the run's user vocabularies, e.g.
      ``{"gender": 2, "age": 3}``; the first request per distinct row compiles.

  Returns:
    ``k`` :class:`Recommendation` s with scores in non-increasing order.

  Raises:
    ValueError: empty ``ratings``, an unknown item id, a rating that is NaN,
      infinite or outside the dataset's rating scale, an item rated twice, a bad
      ``k`` (not in ``[1, #unrated items]``) or bad ``user_features``.
  """
  support = _support(recommender, ratings)
  _check_k(recommender, k, len(support[0]))
  return _serve(recommender, [support], k, explain,
                _feature_row(recommender, user_features))[0]


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
  supports = [_support(recommender, r, f"list_of_ratings[{b}]")
              for b, r in enumerate(list_of_ratings)]
  _check_k(recommender, k, max(len(items) for items, _ in supports))
  return _serve(recommender, supports, k, explain, ())


def read_ratings(path: str | pathlib.Path) -> list[tuple[str, float]]:
  """Reads ``item,rating`` lines (comma- or tab-separated, header optional).

  Blank lines and lines starting with ``#`` are skipped; the first line is taken
  as a header when its rating field is not a number. Raw item ids are returned as
  strings (matched as ``str(raw id)`` by :func:`recommend`).

  Returns:
    ``[(raw item id, rating), ...]`` in file order.

  Raises:
    FileNotFoundError: ``path`` does not exist.
    ValueError: a line without exactly two fields, or a non-numeric rating
      (naming the file and line).
  """
  path = pathlib.Path(path)
  if not path.is_file():
    raise FileNotFoundError(f"ratings file {path} not found")
  out = []
  for number, line in enumerate(path.read_text().splitlines(), start=1):
    line = line.strip()
    if not line or line.startswith("#"):
      continue
    fields = [f.strip() for f in line.split("\t" if "\t" in line else ",")]
    if len(fields) != 2:
      raise ValueError(f"{path}:{number}: expected 2 fields 'item,rating', got "
                       f"{len(fields)} in {line!r}")
    try:
      rating = float(fields[1])
    except ValueError as e:
      if number == 1:
        continue
      raise ValueError(f"{path}:{number}: rating {fields[1]!r} is not a number") from e
    out.append((fields[0], rating))
  return out


def format_table(recommendations: Sequence[Recommendation]) -> str:
  """A plain-text table: rank, item id, score, title and explanation."""
  header = ("rank", "item", "score", "title", "why")
  rows = [(str(r), str(rec.item_id), f"{rec.score:.3f}", rec.title,
           rec.explanation.text if rec.explanation else "")
          for r, rec in enumerate(recommendations, start=1)]
  widths = [max(len(row[c]) for row in [header, *rows]) for c in range(len(header))]
  lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
           for row in [header, *rows]]
  lines.insert(1, "  ".join("-" * w for w in widths))
  return "\n".join(lines)
