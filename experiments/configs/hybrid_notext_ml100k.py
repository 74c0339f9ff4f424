r"""The hybrid model of ``hybrid_text_ml100k.py`` without the text vector (ids and
side features only), MAML, MovieLens-100K: the reference for the text-feature gain.

  python -m experiments.meta_train --config=experiments/configs/hybrid_notext_ml100k.py \
      --workdir=workdirs/hybrid_notext_ml100k --evaluate
"""

from experiments.configs import default, maml_ml100k


def get_config():
  return default.hybrid(maml_ml100k.get_config(), text=False)
