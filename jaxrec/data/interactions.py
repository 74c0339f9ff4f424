"""The one in-memory representation every reader returns."""

from __future__ import annotations

import dataclasses

import numpy as np

#: Separates an item's title from its details in item text: "Title — a, b".
EM_DASH = "\u2014"


@dataclasses.dataclass(frozen=True, eq=False)
class ItemTags:
  """Raw item tag assignments, from which an item tag feature is derived later.

  A user's tag on an item tells that the user knows the item, so the tag
  feature and the tag part of the item text must come from training users'
  assignments only: the reader keeps the assignments and
  :func:`jaxrec.data.tags.with_item_tags` derives the feature after the split.

  Attributes:
    user: ``int32[T]`` internal user id of each assignment.
    item: ``int32[T]`` internal item id of each assignment.
    tag: ``int32[T]`` id of the tag in the item field ``field`` (``>= 1``).
    titles: ``[I]`` the item text without tags (e.g. the artist name).
    field: the item feature field the top tags go to, e.g. ``"tag"``.
    width: tags kept per item (``m`` of the ``int32[I, m]`` feature), ``>= 1``.
  """

  user: np.ndarray
  item: np.ndarray
  tag: np.ndarray
  titles: np.ndarray
  field: str
  width: int


@dataclasses.dataclass(frozen=True)
class Interactions:
  """A dataset's interactions and side information, with contiguous internal ids.

  Internal ids are ``0 .. num_users-1`` and ``0 .. num_items-1``; ``user_ids[u]``
  and ``item_ids[i]`` map them back to the raw ids of the source files.

  Attributes:
    name: dataset name, e.g. ``"ml-100k"``.
    user: ``int32[N]`` internal user id of each interaction.
    item: ``int32[N]`` internal item id of each interaction.
    rating: ``float32[N]`` explicit rating, or the implicit weight (Last.fm play
      count) when ``implicit`` is true.
    timestamp: ``int64[N]`` Unix seconds, or ``None`` when the source has none.
    user_ids: ``[U]`` raw user ids.
    item_ids: ``[I]`` raw item ids.
    user_features: categorical user fields: ``int32[U]`` (one id per user) or
      ``int32[U, m]`` (multi-hot, padded) with a ``"<field>_mask"`` entry
      ``float32[U, m]``. Id 0 means unknown / padding in every field.
    item_features: the same for items (``[I]`` / ``[I, m]``).
    user_vocab_sizes: field -> vocabulary size (including id 0) for each
      categorical user field (mask entries excluded).
    item_vocab_sizes: the same for item fields.
    item_text: ``[I]`` one string per item (the language-model input), the
      title, then `EM_DASH` and the item's categories when it has any.
    user_text: ``[U]`` one string per user, or ``None``.
    implicit: true for implicit feedback (positives only; negatives are
      sampled by the episode layer).
    rating_scale: ``(min, max)`` of explicit ratings, ``None`` when implicit.
    vocab_names: optional human-readable names per field value, e.g.
      ``{"genre": ["unknown", "Action", ...]}`` (index = id).
    item_tags: the raw tag assignments (`ItemTags`) when the dataset has user
      tags (Last.fm), else ``None``. The item field ``item_tags.field`` and
      ``item_text`` then hold the tags of the users last passed to
      :func:`jaxrec.data.tags.with_item_tags` (a reader passes none: the
      field is all 0 and the text is the title; ``jaxrec.prepare.prepare`` and
      :func:`jaxrec.data.splits.build_tables` pass the training users).
    friend_offsets: ``int64[U + 1]`` the user graph (Last.fm friends) in CSR
      form over internal user ids, or ``None`` when the dataset has none: the
      friends of user ``u`` are ``friend_ids[friend_offsets[u]:friend_offsets[u
      + 1]]``, sorted, without ``u`` itself or repeats. The graph is undirected
      (``v`` is a friend of ``u`` iff ``u`` is a friend of ``v``). Use
      :func:`jaxrec.data.graph.friends_of` to keep only training users.
    friend_ids: ``int32[E]`` the friend lists concatenated (each friendship
      twice, once per direction), or ``None``.
  """

  name: str
  user: np.ndarray
  item: np.ndarray
  rating: np.ndarray
  timestamp: np.ndarray | None
  user_ids: np.ndarray
  item_ids: np.ndarray
  user_features: dict[str, np.ndarray]
  item_features: dict[str, np.ndarray]
  user_vocab_sizes: dict[str, int]
  item_vocab_sizes: dict[str, int]
  item_text: np.ndarray
  user_text: np.ndarray | None = None
  implicit: bool = False
  rating_scale: tuple[float, float] | None = None
  vocab_names: dict[str, list[str]] = dataclasses.field(default_factory=dict)
  item_tags: ItemTags | None = None
  friend_offsets: np.ndarray | None = None
  friend_ids: np.ndarray | None = None

  @property
  def num_users(self) -> int:
    return len(self.user_ids)

  @property
  def num_items(self) -> int:
    return len(self.item_ids)

  @property
  def num_interactions(self) -> int:
    return len(self.user)

  def validate(self) -> "Interactions":
    """Checks shapes, dtypes and id ranges; raises ValueError naming the field.

    Also checks ``item_tags`` (lengths, id ranges, the field's vocabulary) and
    the friend graph (CSR offsets, id ranges, sorted rows without self-loops or
    repeats, symmetry).
    """
    n = len(self.user)
    for field in ("item", "rating"):
      if len(getattr(self, field)) != n:
        raise ValueError(
            f"{self.name}: '{field}' has {len(getattr(self, field))} entries, "
            f"'user' has {n}")
    if self.timestamp is not None and len(self.timestamp) != n:
      raise ValueError(f"{self.name}: 'timestamp' has {len(self.timestamp)} "
                       f"entries, 'user' has {n}")
    if n == 0:
      raise ValueError(f"{self.name}: no interactions")
    if self.user.min() < 0 or self.user.max() >= self.num_users:
      raise ValueError(f"{self.name}: internal user ids out of [0, {self.num_users})")
    if self.item.min() < 0 or self.item.max() >= self.num_items:
      raise ValueError(f"{self.name}: internal item ids out of [0, {self.num_items})")
    if not np.all(np.isfinite(self.rating)):
      raise ValueError(f"{self.name}: non-finite ratings")
    if len(self.item_text) != self.num_items:
      raise ValueError(f"{self.name}: item_text has {len(self.item_text)} entries, "
                       f"expected {self.num_items}")
    for kind, feats, vocab, rows in (
        ("user", self.user_features, self.user_vocab_sizes, self.num_users),
        ("item", self.item_features, self.item_vocab_sizes, self.num_items)):
      for key, arr in feats.items():
        if arr.shape[0] != rows:
          raise ValueError(f"{self.name}: {kind} feature '{key}' has {arr.shape[0]} "
                           f"rows, expected {rows}")
        if key.endswith("_mask"):
          continue
        if key not in vocab:
          raise ValueError(f"{self.name}: {kind} feature '{key}' has no vocabulary size")
        if arr.size and (arr.min() < 0 or arr.max() >= vocab[key]):
          raise ValueError(f"{self.name}: {kind} feature '{key}' has ids outside "
                           f"[0, {vocab[key]})")
    if self.item_tags is not None:
      self._validate_item_tags()
    if (self.friend_offsets is None) != (self.friend_ids is None):
      raise ValueError(f"{self.name}: 'friend_offsets' and 'friend_ids' must both be "
                       "set or both be None")
    if self.friend_offsets is not None:
      self._validate_friends()
    return self

  def _validate_item_tags(self) -> None:
    """ValueError naming the `ItemTags` attribute that is inconsistent."""
    tags = self.item_tags
    where = f"{self.name}: item_tags"
    if not len(tags.user) == len(tags.item) == len(tags.tag):
      raise ValueError(f"{where}: user, item and tag have {len(tags.user)}, "
                       f"{len(tags.item)} and {len(tags.tag)} entries")
    if len(tags.titles) != self.num_items:
      raise ValueError(f"{where}.titles has {len(tags.titles)} entries, expected "
                       f"{self.num_items}")
    if tags.width < 1:
      raise ValueError(f"{where}.width must be >= 1, got {tags.width}")
    if tags.field not in self.item_vocab_sizes:
      raise ValueError(f"{where}.field '{tags.field}' has no item vocabulary size")
    for attr, high in (("user", self.num_users), ("item", self.num_items),
                       ("tag", self.item_vocab_sizes[tags.field])):
      ids = getattr(tags, attr)
      low = 1 if attr == "tag" else 0
      if ids.size and (ids.min() < low or ids.max() >= high):
        raise ValueError(f"{where}.{attr} has ids outside [{low}, {high})")

  def _validate_friends(self) -> None:
    """ValueError naming what is wrong with the CSR friend graph."""
    offsets, ids = self.friend_offsets, self.friend_ids
    where = f"{self.name}: friend graph"
    if offsets.shape != (self.num_users + 1,):
      raise ValueError(f"{where}: friend_offsets has shape {offsets.shape}, expected "
                       f"({self.num_users + 1},)")
    if offsets[0] != 0 or offsets[-1] != len(ids) or (np.diff(offsets) < 0).any():
      raise ValueError(f"{where}: friend_offsets must rise from 0 to len(friend_ids)"
                       f" = {len(ids)}")
    if ids.size and (ids.min() < 0 or ids.max() >= self.num_users):
      raise ValueError(f"{where}: friend_ids outside [0, {self.num_users})")
    owner = np.repeat(np.arange(self.num_users), np.diff(offsets))
    if (owner == ids).any():
      raise ValueError(f"{where}: user {owner[owner == ids][0]} is its own friend")
    same_row = owner[1:] == owner[:-1]
    if (same_row & (ids[1:] <= ids[:-1])).any():
      raise ValueError(f"{where}: a friend list is not sorted or has a repeat")
    edges = np.sort(owner.astype(np.int64) * self.num_users + ids)
    reverse = np.sort(ids.astype(np.int64) * self.num_users + owner)
    if not np.array_equal(edges, reverse):
      raise ValueError(f"{where}: not symmetric (some friendship is listed in one "
                       "direction only)")
