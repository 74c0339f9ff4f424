"""jaxrec: cold-start recommendation with meta-learning and language-model features.

Subpackages: ``jaxrec.data``, ``jaxrec.models``, ``jaxrec.meta``, ``jaxrec.metrics``,
``jaxrec.baselines`` (imported here) and ``jaxrec.text`` (the ``text`` extra; import it
explicitly). ``jaxrec.train``, ``jaxrec.evaluate`` and ``jaxrec.recommend`` are what
the ``experiments/`` scripts call.
"""

from jaxrec import baselines as baselines
from jaxrec import data as data
from jaxrec import meta as meta
from jaxrec import metrics as metrics
from jaxrec import models as models

__version__ = "0.1.0"
