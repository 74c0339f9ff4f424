r"""MeLU + second-order MAML on MovieLens-1M-format data (``ratings.dat``,
``movies.dat``, ``users.dat``).

  python -m experiments.meta_train --config=experiments/configs/maml_ml1m.py \
      --workdir=workdirs/maml_ml1m --evaluate

Random joint user/item splits by default, as for ML-100K. For MeLU's time-based
states (users / items first seen after a cutoff are new) add
``--config.data.split=time --config.data.user_cutoff=<unix time>
--config.data.item_cutoff=<unix time>``.
"""

from experiments.configs import maml_ml100k


def get_config():
  c = maml_ml100k.get_config()
  c.data.dataset = "ml-1m"
  c.data.user_cutoff = 0
  c.data.item_cutoff = 0
  c.num_epochs = 10
  c.eval_every = 100
  return c
