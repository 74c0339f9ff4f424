r"""Meta-SGD: per-parameter inner learning rates learned with theta; MeLU on MovieLens-100K.

  python -m experiments.meta_train --config=experiments/configs/metasgd_ml100k.py \
      --workdir=workdirs/metasgd_ml100k --evaluate

Everything else as in ``maml_ml100k.py``.
"""

from experiments.configs import maml_ml100k


def get_config():
  c = maml_ml100k.get_config()
  c.meta.algorithm = "meta_sgd"
  return c
