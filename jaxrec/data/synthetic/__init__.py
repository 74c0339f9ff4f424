"""Synthetic datasets with planted per-user structure, in the raw release formats.

The writers produce files that the readers of `jaxrec.data.readers` parse
exactly like the real releases (encodings, separators, line endings, quirks),
so tests and examples can run without the real data. One module per release
family, as in the readers: ``movielens`` (:func:`write_synthetic_movielens`) and
``lastfm`` (:func:`write_synthetic_lastfm`).
"""

from jaxrec.data.synthetic.lastfm import write_synthetic_lastfm
from jaxrec.data.synthetic.movielens import write_synthetic_movielens

__all__ = ["write_synthetic_lastfm", "write_synthetic_movielens"]
