"""Student's t quantiles and the 95% confidence interval of a mean.

A 95% confidence interval over ``n`` values ``x_1..x_n`` (mean ``m``, sample
standard deviation ``s`` with ``n - 1`` degrees of freedom) is
``m ± t_{0.975, n-1} s / sqrt(n)``. Plain numpy and the standard library (no scipy).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def _two_sided_t_cdf(t: float, df: int) -> float:
  """``P(|T| <= t)`` for Student's t with integer ``df >= 1`` degrees of freedom.

  Closed forms with ``theta = atan(t / sqrt(df))``, ``c = cos(theta)``:
  odd ``df``: ``2/pi (theta + sin(theta) c (1 + sum_{j=1}^{(df-3)/2}
  prod_{i<=j} 2i/(2i+1) c^{2j}))`` (just ``2 theta / pi`` for ``df = 1``);
  even ``df``: ``sin(theta) (1 + sum_{j=1}^{(df-2)/2} prod_{i<=j} (2i-1)/(2i) c^{2j})``.
  """
  theta = math.atan(t / math.sqrt(df))
  c2 = math.cos(theta) ** 2
  if df % 2:
    if df == 1:
      return 2.0 * theta / math.pi
    i = np.arange(1, (df - 1) // 2)
    series = 1.0 + np.cumprod(2 * i / (2 * i + 1) * c2).sum()
    return 2.0 / math.pi * (theta + math.sin(theta) * math.cos(theta) * series)
  i = np.arange(1, df // 2)
  return math.sin(theta) * (1.0 + np.cumprod((2 * i - 1) / (2 * i) * c2).sum())


def student_t_ppf(p: float, df: int) -> float:
  """The ``p`` quantile of Student's t with ``df`` degrees of freedom.

  Solves ``P(T <= t) = p`` by bisection on the exact CDF (to about 1e-12), e.g.
  ``student_t_ppf(0.975, 2) = 4.3027``.

  Raises:
    ValueError: if ``p`` is not in (0, 1) or ``df`` is not an integer >= 1.
  """
  if not 0.0 < p < 1.0:
    raise ValueError(f"student_t_ppf: p must be in (0, 1), got {p}")
  if int(df) != df or df < 1:
    raise ValueError(f"student_t_ppf: df must be an integer >= 1, got {df}")
  if p < 0.5:
    return -student_t_ppf(1.0 - p, df)
  level = 2.0 * p - 1.0  # P(|T| <= t)
  lo, hi = 0.0, 1.0
  while _two_sided_t_cdf(hi, int(df)) < level:
    lo, hi = hi, 2.0 * hi
  while hi - lo > 1e-12 * max(1.0, hi):
    mid = 0.5 * (lo + hi)
    lo, hi = (mid, hi) if _two_sided_t_cdf(mid, int(df)) < level else (lo, mid)
  return 0.5 * (lo + hi)


def mean_ci95(values: Sequence[float] | np.ndarray) -> tuple[float, float, int]:
  """Mean and 95% CI half-width of the finite entries of ``values``.

  With ``n`` finite values, mean ``m`` and sample standard deviation ``s``
  (``ddof=1``): returns ``(m, t_{0.975, n-1} s / sqrt(n), n)``. The half-width is
  NaN when ``n < 2`` and the mean is NaN when ``n = 0``.

  Args:
    values: ``float[n]`` (NaN entries are dropped).

  Returns:
    ``(mean, ci95, n)``.
  """
  x = np.asarray(values, np.float64).ravel()
  x = x[np.isfinite(x)]
  n = len(x)
  if n == 0:
    return math.nan, math.nan, 0
  if n == 1:
    return float(x[0]), math.nan, 1
  half = student_t_ppf(0.975, n - 1) * float(x.std(ddof=1)) / math.sqrt(n)
  return float(x.mean()), half, n
