r"""Top-k recommendations with explanations for a brand-new user, from a run.

  python -m experiments.recommend --workdir=workdirs/maml_ml100k --ratings=me.csv --k=10
  python -m experiments.recommend --workdir=workdirs/foldin_lastfm --friends=13,16,20 \
      --description="melancholic indie, some jazz"

``--ratings`` is a CSV or TSV file of ``item,rating`` lines (raw item ids of the
dataset, e.g. ML-100K movie ids; a header line is optional); ``--friends`` the raw
user ids of the user's friends (a dataset with a friend graph, e.g. Last.fm);
``--description`` a sentence about the user's taste (the ``text`` extra). At least
one of the three is needed; with no ratings the list comes from the others alone
(:func:`jaxrec.recommend.recommend`). Reads only
``<workdir>/config.json``, the best checkpoint and the serving bundle
(``serving.json``, ``serving.npz``; never the dataset), prints a table, writes
nothing; the user's adapted weights never leave the process (see
:mod:`jaxrec.serving`).

Bad input (a missing file, an unknown flag or config field, a bad value) exits with
status 2 and one ``error: ...`` line on stderr; ``--traceback`` (or
``JAXREC_TRACEBACK=1``) shows the full traceback instead.
"""

from absl import flags
from absl import logging

from experiments import _cli
from jaxrec import recommend

_WORKDIR = _cli.define(flags.DEFINE_string, "workdir", None, "Run directory written by meta_train.")
_RATINGS = _cli.define(flags.DEFINE_string, "ratings", None, "CSV/TSV file of item,rating lines.")
_FRIENDS = _cli.define(flags.DEFINE_list, "friends", None, "Raw user ids of the user's friends.")
_DESCRIPTION = _cli.define(flags.DEFINE_string, "description", None,
                           "A sentence about the user's taste.")
_K = _cli.define(flags.DEFINE_integer, "k", 10, "Number of recommendations.")
_EXPLAIN = _cli.define(flags.DEFINE_bool, "explain", True, "Explain each recommendation.")
flags.mark_flags_as_required(["workdir"])


def main(argv):
  del argv
  logging.set_verbosity(logging.ERROR)  # Orbax logs every restore and read-only open
  if not (_RATINGS.value or _FRIENDS.value or _DESCRIPTION.value):
    raise ValueError("give --ratings, --friends or --description (at least one)")
  ratings = recommend.read_ratings(_RATINGS.value) if _RATINGS.value else []
  recommender = recommend.load_recommender(_WORKDIR.value)
  print(recommend.format_table(recommend.recommend(
      recommender, ratings, k=_K.value, explain=_EXPLAIN.value, friends=_FRIENDS.value,
      description=_DESCRIPTION.value)))


if __name__ == "__main__":
  _cli.run(main)
