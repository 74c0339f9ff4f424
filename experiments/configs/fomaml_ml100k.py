r"""First-order MAML (FOMAML): inner gradients treated as constants; MeLU on MovieLens-100K.

  python -m experiments.meta_train --config=experiments/configs/fomaml_ml100k.py \
      --workdir=workdirs/fomaml_ml100k --evaluate

Everything else as in ``maml_ml100k.py``.
"""

from experiments.configs import maml_ml100k


def get_config():
  c = maml_ml100k.get_config()
  c.meta.algorithm = "fomaml"
  return c
