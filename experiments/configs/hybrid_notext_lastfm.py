r"""The hybrid model of ``hybrid_text_lastfm.py`` without the text vector (ids and
side features only), MAML, Last.fm (implicit): the reference for the text-feature gain.

  python -m experiments.meta_train --config=experiments/configs/hybrid_notext_lastfm.py \
      --workdir=workdirs/hybrid_notext_lastfm --evaluate
"""

from experiments.configs import default, maml_lastfm


def get_config():
  return default.hybrid(maml_lastfm.get_config(), text=False)
