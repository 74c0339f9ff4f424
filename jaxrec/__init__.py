"""jaxrec: cold-start recommendation with meta-learning and language-model features.

Subpackages: ``jaxrec.data``, ``jaxrec.models``, ``jaxrec.meta``, ``jaxrec.metrics``,
``jaxrec.baselines`` (attributes of ``jaxrec``, each imported on first access, so
``import jaxrec.meta`` loads neither the others nor Flax) and ``jaxrec.text`` (the
``text`` extra; import it explicitly). ``jaxrec.train``, ``jaxrec.evaluate`` (with
``jaxrec.report``) and ``jaxrec.recommend`` are what the ``experiments/`` scripts call.
"""

import importlib
from types import ModuleType

__version__ = "0.1.0"

_SUBPACKAGES = ("baselines", "data", "meta", "metrics", "models")
__all__ = [*_SUBPACKAGES, "__version__"]


def __getattr__(name: str) -> ModuleType:
  """``jaxrec.<name>`` for a subpackage in ``_SUBPACKAGES``, imported on first access
  (PEP 562).

  Raises:
    AttributeError: for any other name.
  """
  if name in _SUBPACKAGES:
    return importlib.import_module(f"jaxrec.{name}")
  raise AttributeError(f"module 'jaxrec' has no attribute {name!r}")


def __dir__() -> list[str]:
  """The module's names, including the subpackages not yet imported."""
  return sorted({*globals(), *_SUBPACKAGES})
