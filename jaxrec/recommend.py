"""Recommending for a brand-new user from a trained run: the public serving API.

The names live in :mod:`jaxrec.serving` (one idea per module; see its docstring)
and are re-exported here: :func:`load_recommender` reads a run directory (config,
best checkpoint, serving bundle; never the dataset), :func:`recommend` /
:func:`recommend_batch` adapt the run's model to a new user's ratings (and, for
:func:`recommend`, friends and a description) and return the top-k items with
explanations, :func:`read_ratings` / :func:`format_table` are
the CLI's input and output.
"""

from jaxrec.serving.bundle import Bundle
from jaxrec.serving.explain import MAX_DRIVERS
from jaxrec.serving.io import format_table
from jaxrec.serving.io import read_ratings
from jaxrec.serving.records import Driver
from jaxrec.serving.records import Explanation
from jaxrec.serving.records import Recommendation
from jaxrec.serving.records import Recommender
from jaxrec.serving.records import Server
from jaxrec.serving.server import MIN_BUCKET
from jaxrec.serving.server import load_recommender
from jaxrec.serving.server import recommend
from jaxrec.serving.server import recommend_batch
from jaxrec.serving.server import support_bucket
from jaxrec.serving.signals import DESCRIPTION_ITEMS
from jaxrec.serving.signals import DESCRIPTION_WEIGHT
from jaxrec.serving.signals import FRIENDS_WEIGHT
from jaxrec.serving.signals import MIN_FRIENDS

__all__ = [
    "Bundle", "DESCRIPTION_ITEMS", "DESCRIPTION_WEIGHT", "Driver", "Explanation",
    "FRIENDS_WEIGHT", "MAX_DRIVERS", "MIN_BUCKET", "MIN_FRIENDS",
    "Recommendation", "Recommender", "Server", "format_table", "load_recommender",
    "read_ratings", "recommend", "recommend_batch", "support_bucket",
]
