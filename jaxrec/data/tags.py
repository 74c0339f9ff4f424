"""Item tag features derived from raw user tag assignments, by chosen users only.

A user's tag on an item reveals that the user knows the item. When the tag
feature and the item text ("Artist — tag1, tag2") are computed from every
user's assignments, a held-out user who is the only tagger of an artist hands
the model, through the artist's features, the very items that user listens to.
Readers therefore keep the assignments raw (`ItemTags`) and this module derives
the feature after the split, from the training users' assignments.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxrec.data.interactions import EM_DASH, Interactions


def top_tags(item: np.ndarray, tag: np.ndarray, num_items: int,
             width: int) -> np.ndarray:
  """``int32[num_items, width]``: per item, its `width` most-assigned tag ids.

  ``top[i]`` lists the tags of the assignments ``(item[n], tag[n])`` with
  ``item[n] = i``, by count (descending), ties by smaller tag id, padded with 0.

  Args:
    item: ``int[T]`` item row of each assignment, in ``[0, num_items)``.
    tag: ``int[T]`` tag id of each assignment, ``>= 1``.
    num_items: rows of the result.
    width: columns of the result, ``>= 1``.

  Raises:
    ValueError: `width` < 1 or `item` and `tag` of different lengths.
  """
  if width < 1:
    raise ValueError(f"width must be >= 1, got {width}")
  if len(item) != len(tag):
    raise ValueError(f"item and tag have {len(item)} and {len(tag)} entries")
  item, tag = np.asarray(item, np.int64), np.asarray(tag, np.int64)
  base = int(tag.max(initial=0)) + 1
  keys, counts = np.unique(item * base + tag, return_counts=True)
  rows, tags = keys // base, keys % base
  order = np.lexsort((tags, -counts, rows))
  rows, tags = rows[order], tags[order]
  rank = np.arange(len(rows)) - np.searchsorted(rows, rows)  # position in its row
  top = np.zeros((num_items, width), np.int32)
  keep = rank < width
  top[rows[keep], rank[keep]] = tags[keep]
  return top


def with_item_tags(interactions: Interactions, users: np.ndarray) -> Interactions:
  """`interactions` with its tag feature and item text taken from `users`' tags.

  With ``A = {n : item_tags.user[n] in users}``, item field ``F =
  item_tags.field`` becomes ``top_tags(item_tags.item[A], item_tags.tag[A])``
  (``int32[I, width]``) with ``F + "_mask" = (F > 0)`` (``float32[I, width]``),
  and ``item_text[i] = "<title> — <name 1>, <name 2>, ..."`` (tag names from
  ``vocab_names[F]``, else the ids), just ``titles[i]`` for an item without
  tags. Everything else, the assignments included, is unchanged, so the result
  depends on `users` only (calling it again with other users is fine).

  Args:
    interactions: the dataset; returned as is when it has no ``item_tags``.
    users: ``int[k]`` internal user ids whose assignments count (the training
      users, ``split.train_users``); may be empty.

  Returns:
    A validated `Interactions`.

  Raises:
    ValueError: a user id outside ``[0, num_users)``.
  """
  tags = interactions.item_tags
  if tags is None:
    return interactions
  users = np.asarray(users)
  if users.size and (users.min() < 0 or users.max() >= interactions.num_users):
    raise ValueError(f"{interactions.name}: users must be internal user ids in "
                     f"[0, {interactions.num_users})")
  chosen = np.isin(tags.user, users)
  top = top_tags(tags.item[chosen], tags.tag[chosen], interactions.num_items,
                 tags.width)
  names = interactions.vocab_names.get(tags.field)
  text = [f"{title} {EM_DASH} "
          f"{', '.join(str(t if names is None else names[t]) for t in row if t)}"
          if row[0] else str(title) for title, row in zip(tags.titles, top)]
  features = {**interactions.item_features, tags.field: top,
              f"{tags.field}_mask": (top > 0).astype(np.float32)}
  return dataclasses.replace(interactions, item_features=features,
                             item_text=np.asarray(text, dtype=str)).validate()
