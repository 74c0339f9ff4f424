"""The one in-memory representation every reader returns."""

from __future__ import annotations

import dataclasses

import numpy as np


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
    item_text: ``[I]`` one string per item (the language-model input).
    user_text: ``[U]`` one string per user, or ``None``.
    implicit: true for implicit feedback (positives only; negatives are
      sampled by the episode layer).
    rating_scale: ``(min, max)`` of explicit ratings, ``None`` when implicit.
    vocab_names: optional human-readable names per field value, e.g.
      ``{"genre": ["unknown", "Action", ...]}`` (index = id).
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
    """Checks shapes, dtypes and id ranges; raises ValueError naming the field."""
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
    return self
