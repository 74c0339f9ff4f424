"""Input validation and user averaging shared by the metric modules."""

from __future__ import annotations

import numpy as np


def query_arrays(scores, y, mask) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Validates the padded query arrays of an episode batch.

  Args:
    scores: ``[B, Q]`` predicted scores.
    y: ``[B, Q]`` true ratings / labels.
    mask: ``[B, Q]`` 1 for a real query row, 0 for padding.

  Returns:
    ``(scores float64[B, Q], y float64[B, Q], mask bool[B, Q])``; padded
    positions of ``scores`` and ``y`` are set to 0 so they can never leak NaNs.

  Raises:
    ValueError: if an array is not 2-D, the shapes differ, ``mask`` has a value
      other than 0/1, or a real row has a non-finite score or label.
  """
  arrays = {"scores": np.asarray(scores, np.float64), "y": np.asarray(y, np.float64),
            "mask": np.asarray(mask, np.float64)}
  for name, arr in arrays.items():
    if arr.ndim != 2:
      raise ValueError(f"'{name}' must be 2-D [B, Q], got shape {arr.shape}")
  shape = arrays["scores"].shape
  for name in ("y", "mask"):
    if arrays[name].shape != shape:
      raise ValueError(f"'{name}' has shape {arrays[name].shape}, 'scores' has {shape}")
  bad = ~np.isin(arrays["mask"], (0.0, 1.0))
  if bad.any():
    b, q = np.argwhere(bad)[0]
    raise ValueError(f"'mask' must be 0/1; mask[{b}, {q}] = {arrays['mask'][b, q]}")
  real = arrays["mask"] == 1.0
  for name in ("scores", "y"):
    bad = real & ~np.isfinite(arrays[name])
    if bad.any():
      b, q = np.argwhere(bad)[0]
      raise ValueError(f"non-finite '{name}' at a real query row: "
                       f"{name}[{b}, {q}] = {arrays[name][b, q]}")
  return (np.where(real, arrays["scores"], 0.0), np.where(real, arrays["y"], 0.0), real)


def positive_int(value, name: str) -> int:
  """Returns ``value`` as an int; raises ValueError unless it is an integer >= 1."""
  if isinstance(value, bool) or int(value) != value or value < 1:
    raise ValueError(f"'{name}' must be an integer >= 1, got {value!r}")
  return int(value)


def mean_over_users(per_user: np.ndarray) -> float:
  """Mean of the finite entries of ``float[B]`` (NaN marks an excluded user).

  Returns NaN, without a warning, when every user is excluded.
  """
  per_user = np.asarray(per_user, np.float64)
  valid = ~np.isnan(per_user)
  return float(per_user[valid].mean()) if valid.any() else float("nan")
