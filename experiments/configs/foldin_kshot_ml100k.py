r"""The ML-100K fold-in trained for new users with 0-3 ratings.

  python -m experiments.meta_train --config=experiments/configs/foldin_kshot_ml100k.py \
      --workdir=workdirs/foldin_kshot_ml100k --evaluate

``experiments/configs/foldin_ml100k.py`` (the same warm start, model and learning
rate) whose training and validation supports are cut to ``k`` ratings, ``k`` drawn
from ``K_SHOT`` per episode (``data.train_support_sizes``,
:func:`jaxrec.data.episodes.subsample_support`): the outer loop learns the item
side, prior and shrinkage for the post-fold-in loss of users with 0-3 ratings.
It is ``experiments/configs/foldin_profile_ml100k.py`` retrained without the
profile input (that config's docstring holds the grid). Early stopping reads the
validation RMSE on supports cut the same way.
"""

from experiments.configs import foldin_ml100k

K_SHOT = (0, 1, 2, 3)


def get_config():
  c = foldin_ml100k.get_config()
  c.name = "foldin-kshot"
  c.data.train_support_sizes = K_SHOT
  return c
