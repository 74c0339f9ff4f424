"""jaxrec.data: raw rating files -> Interactions -> cold-start splits -> episode batches."""

from jaxrec.data.batching import batch_iterator as batch_iterator
from jaxrec.data.batching import pad_batch as pad_batch
from jaxrec.data.batching import padding_fraction as padding_fraction
from jaxrec.data.batching import summarize as summarize
from jaxrec.data.episodes import STATES as STATES
from jaxrec.data.episodes import Episodes as Episodes
from jaxrec.data.episodes import make_episodes as make_episodes
from jaxrec.data.episodes import training_episodes as training_episodes
from jaxrec.data.episodes import truncate_support as truncate_support
from jaxrec.data.interactions import Interactions as Interactions
from jaxrec.data.readers import load_csv as load_csv
from jaxrec.data.readers import load_dataset as load_dataset
from jaxrec.data.readers import load_lastfm as load_lastfm
from jaxrec.data.readers import load_movielens_100k as load_movielens_100k
from jaxrec.data.readers import load_movielens_1m as load_movielens_1m
from jaxrec.data.splits import ColdStartSplit as ColdStartSplit
from jaxrec.data.splits import build_tables as build_tables
from jaxrec.data.splits import random_split as random_split
from jaxrec.data.splits import time_split as time_split
from jaxrec.data.splits import training_mask as training_mask
from jaxrec.data.synthetic import write_synthetic_lastfm as write_synthetic_lastfm
from jaxrec.data.synthetic import write_synthetic_movielens as write_synthetic_movielens
