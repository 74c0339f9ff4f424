r"""The Last.fm fold-in whose prior reads the user's training friends.

  python -m experiments.meta_train --config=experiments/configs/foldin_friends_lastfm.py \
      --workdir=workdirs/foldin_friends_lastfm --evaluate

``experiments/configs/foldin_lastfm.py`` with one input more: ``data.friends`` adds
each user's training friends as the multi-hot user field ``"friends"``
(:func:`jaxrec.data.splits.friends_field`; friends who are held-out users are left
out) and the model's prior mean becomes ``φ⁰ = φ⁰_θ + m``, ``m = mean_{v ∈ F_u}
e_v``, a learned vector per training user, which also becomes the target of the
unobserved artists with weight ``ρ(n) = σ(a + b log(1 + n))`` (learned;
:mod:`jaxrec.models.foldin`). Warm-started from the same implicit-ALS fold-in,
``e_v`` starts as training user ``v``'s ALS vector, so that at 0 ratings the
user's fold-in is near the mean of their friends' vectors. That config, run on the
same seeds, is this one retrained without the friends input.

Grid on seed 0's validation users (test users not looked at; full-catalogue
nDCG@10 of the validation episodes, whose supports are cut like the training
ones when ``data.train_support_sizes`` is set): GRID below, figures in
``experiments/results/zero_ratings/friends_grid.json``.
"""

from experiments.configs import foldin_lastfm

K_SHOT = (0, 1, 3, 5, 10)
FRIENDS = ("user_prior", "prior_pull")
GRID = [
    # the whole model learns on whole supports, as foldin_lastfm
    {"optimizer.learning_rate": 1e-4},
    {"model.kwargs.user_pull": (3.0, -3.0)},
    # only the friends' vectors and the pull learn, on whole or k-shot supports
    {"optimizer.trainable": FRIENDS, "optimizer.learning_rate": 1e-3},
    {"optimizer.trainable": FRIENDS, "optimizer.learning_rate": 1e-3,
     "data.train_support_sizes": K_SHOT},
    {"optimizer.trainable": FRIENDS, "optimizer.learning_rate": 1e-4,
     "data.train_support_sizes": K_SHOT},
    {"optimizer.learning_rate": 1e-4, "data.train_support_sizes": K_SHOT},
]


def get_config():
  c = foldin_lastfm.get_config()
  c.name = "foldin-friends"
  c.data.friends = True
  c.model.kwargs = {**c.model.kwargs, "user_fields": ("friends",), "user_pull": (3.0, -1.5)}
  return c
