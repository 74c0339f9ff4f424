"""Rating-prediction errors, computed per user and then averaged over users.

Every user (row ``b`` of the padded query arrays) counts once, whatever the size
of their query set: the metrics answer "how wrong is a typical cold-start user's
prediction", not "how wrong is a typical rating". Users without a real query row
(``mask[b].sum() == 0``, e.g. padded tasks) are excluded: their per-user value is
NaN and they do not enter the mean.
"""

from __future__ import annotations

import numpy as np

from jaxrec.metrics import _checks


def per_user_mae(scores, y, mask) -> np.ndarray:
  """Per-user mean absolute error on the query set.

  ``mae_b = sum_q mask[b, q] |scores[b, q] - y[b, q]| / sum_q mask[b, q]``.

  Args:
    scores: ``float[B, Q]`` predicted ratings.
    y: ``float[B, Q]`` true ratings.
    mask: ``float[B, Q]``, 1 for a real query row, 0 for padding.

  Returns:
    ``float64[B]``; NaN for users with no real query row.

  Raises:
    ValueError: on malformed inputs (see ``_checks.query_arrays``).
  """
  scores, y, real = _checks.query_arrays(scores, y, mask)
  return _masked_row_mean(np.abs(scores - y), real)


def per_user_rmse(scores, y, mask) -> np.ndarray:
  """Per-user root mean squared error on the query set.

  ``rmse_b = sqrt(sum_q mask[b, q] (scores[b, q] - y[b, q])^2 / sum_q mask[b, q])``.
  Arguments (``float[B, Q]`` each), the ``float64[B]`` result (NaN for users with no
  real query row) and errors as in ``per_user_mae``.
  """
  scores, y, real = _checks.query_arrays(scores, y, mask)
  return np.sqrt(_masked_row_mean((scores - y) ** 2, real))


def mae(scores, y, mask) -> float:
  """User-averaged MAE: the mean of ``per_user_mae`` over users with a query row.

  Takes ``float[B, Q]`` arrays (see ``per_user_mae``) and returns a float (NaN
  when no user has a query row). Raises ValueError on malformed inputs.
  """
  return _checks.mean_over_users(per_user_mae(scores, y, mask))


def rmse(scores, y, mask) -> float:
  """User-averaged RMSE: ``mean_b rmse_b`` over users with a query row.

  Note this is the mean of per-user RMSEs, not the RMSE over all ratings pooled.
  Takes ``float[B, Q]`` arrays (see ``per_user_rmse``) and returns a float (NaN
  when no user has a query row). Raises ValueError on malformed inputs.
  """
  return _checks.mean_over_users(per_user_rmse(scores, y, mask))


def _masked_row_mean(values: np.ndarray, real: np.ndarray) -> np.ndarray:
  """Row means of ``values[B, Q]`` over ``real[B, Q]``; NaN for empty rows."""
  count = real.sum(axis=1)
  total = np.where(real, values, 0.0).sum(axis=1)
  return np.where(count > 0, total / np.maximum(count, 1), np.nan)
