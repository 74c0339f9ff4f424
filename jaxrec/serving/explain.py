"""Explanations: which rated items drove a recommendation, and what they share.

For each recommended item ``i``, the rated items ``j`` ranked by the influence

  sim(i, j) · w_j,   w_j = (r_j − r_min) / (r_max − r_min)

where ``sim`` is the cosine similarity of the bundle's item vectors (the one-hot
categorical item features of ``jaxrec.prepare.item_vectors``) and ``w_j`` how much
the user liked ``j`` (1 for every rated item when ``r_max = r_min``). Items with
``sim · w ≤ 0`` never count. The influences are computed inside the jitted server
(:mod:`jaxrec.serving.server`); :func:`explain` turns its top :data:`MAX_DRIVERS`
into an :class:`~jaxrec.serving.records.Explanation`, each driver carrying the
feature values (genres, tags, year bucket, ...) it shares with the recommendation.

The other signals of a request (:mod:`jaxrec.serving.signals`) are named too: "4 of
your 6 friends listen to it" when at least
:data:`~jaxrec.serving.signals.MIN_FRIENDS` of the given friends, and not all of
them, have the item among their training items (so that the sentence never says
what one named friend listens to), and "matches '<description>'" when the item is
one of the description's nearest items. This protects the sentence only: the list
itself is a function of the friends' listening (``friends=[v]`` ranks by what ``v``
listens to), as is any difference between two requests.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from jaxrec.serving.records import Driver
from jaxrec.serving.records import Explanation
from jaxrec.serving.records import Recommender
from jaxrec.serving.signals import MIN_FRIENDS
from jaxrec.serving.signals import Signals

MAX_DRIVERS = 2  # rated items named per explanation


def item_labels(item_table: Mapping[str, np.ndarray], vocab_names: Mapping[str, np.ndarray],
                num_items: int) -> tuple[tuple[str, ...], ...]:
  """Per item, the names of its non-zero categorical feature values.

  Args:
    item_table: the run's item table (``int32[I]`` or ``int32[I, m]`` fields,
      ``<field>_mask float32[I, m]``).
    vocab_names: field -> names of its values (index = id); fields without
      names are left out.
    num_items: ``I``.

  Returns:
    ``I`` tuples of names, field by field in table order.
  """
  columns = []
  for field, ids in item_table.items():
    names = vocab_names.get(field)
    if names is None or field.endswith("_mask"):
      continue
    ids = ids.reshape(len(ids), -1)
    mask = item_table.get(f"{field}_mask", np.ones(ids.shape)).reshape(ids.shape)
    columns.append([tuple(str(names[v]) for v, m in zip(row, row_mask) if v and m > 0)
                    for row, row_mask in zip(ids, mask)])
  return tuple(sum((col[i] for col in columns), ()) for i in range(num_items))


def explain(recommender: Recommender, item: int, support: np.ndarray, y: np.ndarray,
            drivers: np.ndarray, similarity: np.ndarray, influence: np.ndarray,
            signals: Signals | None = None) -> Explanation:
  """The :class:`Explanation` of recommending internal item ``item``.

  Args:
    recommender: the run (titles, raw ids, labels, popularity, rating range).
    item: the recommended internal item id.
    support: ``int32[n]`` the user's rated internal item ids.
    y: ``float32[n]`` their ratings.
    drivers: ``int32[D]`` support positions, most influential first.
    similarity: ``float32[D]`` their cosine similarity to ``item``.
    influence: ``float32[D]`` their influence; only positive ones count.
    signals: the request's friends and description, or None.

  Returns:
    The explanation: the drivers with positive influence, the friends behind the
    item (when at least ``MIN_FRIENDS``), whether it matches the description, a
    sentence naming them (and the feature values the drivers share), and the
    item's popularity.
  """
  labels = recommender.item_labels[item]
  found = []
  for j, sim in zip(drivers[influence > 0].tolist(), similarity[influence > 0].tolist()):
    shared = set(recommender.item_labels[support[j]])
    found.append(Driver(
        item_id=recommender.item_ids[support[j]].item(),
        title=str(recommender.titles[support[j]]), rating=float(y[j]),
        similarity=sim, shared=tuple(name for name in labels if name in shared)))
  popularity = int(recommender.popularity[item])
  reasons = []
  if found:
    high = recommender.rating_range[1]
    rated = " and ".join(f"'{d.title}' ({d.rating:g}/{high:g})" for d in found)
    shared_names = list(dict.fromkeys(n for d in found for n in d.shared))
    reasons.append(f"because you rated {rated}" + (
        f"; shares {', '.join(shared_names)}" if shared_names else ""))
  friends = int(signals.friends[item]) if signals is not None else 0
  friends = friends if MIN_FRIENDS <= friends < signals.num_friends else 0
  if friends:
    verb = "listen to" if recommender.bundle.implicit else "rated"
    reasons.append(f"{friends} of your {signals.num_friends} friends {verb} it")
  matches = bool(signals is not None and signals.matches[item])
  if matches:
    reasons.append(f"matches '{signals.description}'")
  if not reasons:
    reasons.append(("none of your liked items resembles it; " if len(support) else "")
                   + f"rated by {popularity} training users")
  return Explanation(text="; ".join(reasons), drivers=tuple(found), popularity=popularity,
                     friends=friends, matches_description=matches)
