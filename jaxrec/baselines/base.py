"""The interface every baseline implements, and its input checks.

A baseline is fit once on the training interactions (``user``, ``item``, ``y``
arrays over internal ids) and then predicts for the same padded episode batches
as the meta-learners: user-level statistics come only from each task's support
set, so new users are handled exactly like warm ones and nothing about a
held-out user leaks from training. Items never seen in training fall back to
global statistics.
"""

from __future__ import annotations

import abc
import copy
import inspect
from typing import Any, Self

import numpy as np


class Baseline(abc.ABC):
  """Base class: ``fit(...) -> self`` then ``predict(...) -> float64[B, Q]``.

  Hyperparameters are constructor keyword arguments stored under their own
  names (so ``grid_search`` can build one per grid point and ``get_params``
  reads them back); fitted statistics are attributes set by ``fit``. The
  hyperparameters named in ``PREDICT_PARAMS`` only change ``predict``, so one
  fit serves every value of them (``with_params``).
  """

  num_items: int | None = None
  PREDICT_PARAMS: tuple[str, ...] = ()
  # True when the scores rank items but are not ratings (counts, similarities):
  # evaluation then reports no MAE / RMSE for the baseline.
  RANKING_ONLY: bool = False

  @abc.abstractmethod
  def fit(self, user, item, y, num_users: int, num_items: int) -> Self:
    """Fits on training interactions ``int[N]``, ``int[N]``, ``float[N]``; returns self."""

  @abc.abstractmethod
  def predict(self, support_item, support_y, support_mask, query_item) -> np.ndarray:
    """Predicts ``float64[B, Q]`` for ``query_item`` from ``[B, S]`` support arrays."""

  def predict_batch(self, batch: dict[str, Any]) -> np.ndarray:
    """``predict`` on an episode batch (``batch["support"]``, ``batch["query"]``).

    Returns ``float64[B, Q]``; raises ValueError as ``predict``.
    """
    support, query = batch["support"], batch["query"]
    return self.predict(support["item"], support["y"], support["mask"], query["item"])

  def get_params(self) -> dict[str, Any]:
    """The constructor's keyword arguments, read back from the same-named attributes."""
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    names = [name for name, p in inspect.signature(type(self).__init__).parameters.items()
             if name != "self" and p.kind in kinds]
    return {name: getattr(self, name) for name in names}

  def with_params(self, **params: Any) -> Self:
    """A copy sharing this fit, with prediction-time hyperparameters replaced
    (``self`` when ``params`` is empty).

    Raises:
      ValueError: if a name is not in ``PREDICT_PARAMS``, or as the
        constructor for a bad value.
    """
    unknown = sorted(set(params) - set(self.PREDICT_PARAMS))
    if unknown:
      raise ValueError(f"{type(self).__name__}: {unknown} are not prediction-time "
                       f"hyperparameters (those are {list(self.PREDICT_PARAMS)})")
    if not params:
      return self
    checked = type(self)(**{**self.get_params(), **params})
    new = copy.copy(self)
    for name in params:
      setattr(new, name, getattr(checked, name))
    return new


def training_arrays(user, item, y, num_users: int, num_items: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Validates training interactions.

  Args:
    user: ``int[N]`` user ids in ``[0, num_users)``.
    item: ``int[N]`` item ids in ``[0, num_items)``.
    y: ``float[N]`` finite ratings / weights.
    num_users: user id space size.
    num_items: item id space size.

  Returns:
    ``(int64[N], int64[N], float64[N])``.

  Raises:
    ValueError: on differing lengths, no interactions, out-of-range ids or a
      non-finite ``y`` (naming the field and position).
  """
  user = np.asarray(user).reshape(-1)
  item = np.asarray(item).reshape(-1)
  y = np.asarray(y, np.float64).reshape(-1)
  if not len(user) == len(item) == len(y):
    raise ValueError(f"training arrays differ in length: user {len(user)}, item "
                     f"{len(item)}, y {len(y)}")
  if len(y) == 0:
    raise ValueError("no training interactions")
  for name, ids, size in (("user", user, num_users), ("item", item, num_items)):
    check_ids(ids, size, name)
  bad = ~np.isfinite(y)
  if bad.any():
    raise ValueError(f"non-finite training y at position {np.flatnonzero(bad)[0]}")
  return user.astype(np.int64), item.astype(np.int64), y


def episode_arrays(support_item, support_y, support_mask, query_item, num_items: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
  """Validates the support set and query items of a padded batch.

  Args:
    support_item: ``int[B, S]`` item ids in ``[0, num_items)``.
    support_y: ``float[B, S]`` support ratings.
    support_mask: ``float[B, S]`` 1 for a real support row.
    query_item: ``int[B, Q]`` item ids in ``[0, num_items)``.
    num_items: item id space size the baseline was fit with.

  Returns:
    ``(int64[B, S], float64[B, S] zeroed on padding, bool[B, S], int64[B, Q])``.

  Raises:
    ValueError: on wrong ranks or shapes, out-of-range ids, a mask value other
      than 0/1, or a non-finite real support rating.
  """
  support_item = np.asarray(support_item)
  support_y = np.asarray(support_y, np.float64)
  support_mask = np.asarray(support_mask, np.float64)
  query_item = np.asarray(query_item)
  for name, arr in (("support_item", support_item), ("support_y", support_y),
                    ("support_mask", support_mask), ("query_item", query_item)):
    if arr.ndim != 2:
      raise ValueError(f"'{name}' must be 2-D, got shape {arr.shape}")
  if not support_item.shape == support_y.shape == support_mask.shape:
    raise ValueError(f"support shapes differ: item {support_item.shape}, y "
                     f"{support_y.shape}, mask {support_mask.shape}")
  if query_item.shape[0] != support_item.shape[0]:
    raise ValueError(f"'query_item' has {query_item.shape[0]} tasks, support has "
                     f"{support_item.shape[0]}")
  if not np.isin(support_mask, (0.0, 1.0)).all():
    raise ValueError("'support_mask' must be 0/1")
  real = support_mask == 1.0
  check_ids(support_item, num_items, "support_item")
  check_ids(query_item, num_items, "query_item")
  if (real & ~np.isfinite(support_y)).any():
    b, s = np.argwhere(real & ~np.isfinite(support_y))[0]
    raise ValueError(f"non-finite support_y[{b}, {s}] = {support_y[b, s]}")
  return (support_item.astype(np.int64), np.where(real, support_y, 0.0), real,
          query_item.astype(np.int64))


def positives(support_y: np.ndarray, real: np.ndarray) -> np.ndarray:
  """``bool[B, S]``: the real support rows with ``y > 0``.

  For implicit data these are the interactions (``y = 1``); the sampled
  negatives (``y = 0``) are left out, so a baseline folds a user in from the
  items they interacted with only.
  """
  return real & (support_y > 0)


def check_ids(ids: np.ndarray, size: int, name: str) -> None:
  """Raises ValueError naming the first entry of ``ids`` outside ``[0, size)``."""
  if not np.issubdtype(ids.dtype, np.integer):
    raise ValueError(f"'{name}' must hold integer ids, got dtype {ids.dtype}")
  bad = (ids < 0) | (ids >= size)
  if bad.any():
    raise ValueError(f"'{name}' has id {ids[bad][0]} outside [0, {size})")


def check_fitted(baseline: Baseline) -> int:
  """Returns ``baseline.num_items``; raises ValueError if ``fit`` was not called."""
  if baseline.num_items is None:
    raise ValueError(f"{type(baseline).__name__}.predict called before fit")
  return baseline.num_items


def check_nonnegative(value: float, name: str) -> float:
  """Returns ``value`` as a float; raises ValueError unless it is finite and >= 0."""
  if not np.isfinite(value) or value < 0:
    raise ValueError(f"'{name}' must be finite and >= 0, got {value!r}")
  return float(value)


def check_count(value: int, name: str) -> int:
  """Returns ``value`` as an int; raises ValueError unless it is an integer >= 0."""
  if isinstance(value, bool) or int(value) != value or value < 0:
    raise ValueError(f"'{name}' must be an integer >= 0, got {value!r}")
  return int(value)
