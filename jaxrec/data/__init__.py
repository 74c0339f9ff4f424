"""jaxrec.data: raw rating files -> Interactions -> cold-start splits -> episode batches."""

from jaxrec.data.batching import batch_iterator
from jaxrec.data.batching import pad_batch
from jaxrec.data.batching import padding_fraction
from jaxrec.data.batching import describe_data
from jaxrec.data.episodes import STATES
from jaxrec.data.episodes import Episodes
from jaxrec.data.episodes import make_episodes
from jaxrec.data.episodes import training_episodes
from jaxrec.data.episodes import truncate_support
from jaxrec.data.interactions import Interactions
from jaxrec.data.readers import load_csv
from jaxrec.data.readers import load_dataset
from jaxrec.data.readers import load_lastfm
from jaxrec.data.readers import load_movielens_100k
from jaxrec.data.readers import load_movielens_1m
from jaxrec.data.splits import ColdStartSplit
from jaxrec.data.splits import build_tables
from jaxrec.data.splits import random_split
from jaxrec.data.splits import time_split
from jaxrec.data.splits import training_mask
from jaxrec.data.synthetic import write_synthetic_lastfm
from jaxrec.data.synthetic import write_synthetic_movielens

__all__ = [
    "batch_iterator",
    "build_tables",
    "ColdStartSplit",
    "describe_data",
    "Episodes",
    "Interactions",
    "load_csv",
    "load_dataset",
    "load_lastfm",
    "load_movielens_100k",
    "load_movielens_1m",
    "make_episodes",
    "pad_batch",
    "padding_fraction",
    "random_split",
    "STATES",
    "time_split",
    "training_episodes",
    "training_mask",
    "truncate_support",
    "write_synthetic_lastfm",
    "write_synthetic_movielens",
]
