r"""The Last.fm fold-in whose prior reads the user's training friends.

  python -m experiments.meta_train --config=experiments/configs/foldin_friends_lastfm.py \
      --workdir=workdirs/foldin_friends_lastfm --evaluate

``experiments/configs/foldin_lastfm.py`` with one input more: ``data.friends`` adds
each user's training friends as the multi-hot user field ``"friends"``
(:func:`jaxrec.data.splits.friends_field`; friends who are held-out users are left
out) and the model's prior mean becomes ``φ⁰ = φ⁰_θ + m``, ``m = mean_{v ∈ F_u}
e_v``, a learned vector per training user, whose scores, times ``ρ(n) = σ(a + b
log(1 + n))`` (learned, from ``user_pull = (a, b)``), are also the unobserved
artists' target (:mod:`jaxrec.models.foldin`). Warm-started from the same
implicit-ALS fold-in, ``e_v`` starts as training user ``v``'s ALS vector, so that at
0 ratings a user's fold-in is near the mean of their friends' vectors. The config
without friends, run on the same seeds, is this model retrained without the
friends input.

Grid on seed 0's validation users (test users not looked at). Each point's run
selects its step on full-catalogue nDCG@10 of the validation episodes (supports cut
as in training when ``data.train_support_sizes`` is set); the points are compared on
that figure and on the validation users' k-shot curves (the pools of
``jaxrec.zero_ratings``, nDCG@10 at k = 0/1/3/5/10 from the run's own prior):

* lr 1e-4, ``user_pull`` (3, −1.5) (chosen): step 0 0.2519, best 0.2527 (step 25),
  then down to 0.2371; k-shot 0.131/0.135/0.146/0.149/0.156 (mean 0.1435).
* ``user_pull`` (3, −3): 0.2511, best 0.2525; k-shot 0.131/0.136/0.143/0.142/0.152.
* ``user_pull`` (3, −0.75): 0.2453, best at step 0; k-shot 0.130/0.136/0.145/0.147/0.152.
* ``user_pull`` (6, −1.5): 0.2420, best 0.2427; k-shot 0.131/0.133/0.141/0.147/0.152.
* only ``e`` and ``ρ`` learn (``optimizer.trainable``), lr 1e-3: best at step 0
  (0.2519), then down; k-shot 0.130/0.136/0.148/0.149/0.154.
* the same on k-shot supports (``data.train_support_sizes = (0, 1, 3, 5, 10)``),
  lr 1e-3 or 1e-4: best at step 0 (k-shot validation episodes 0.1322), then flat or
  down.
* the whole model on k-shot supports, lr 1e-4: 0.1322 at step 0, best 0.1340 (step
  50), then down; k-shot 0.131/0.133/0.143/0.147/0.156 (mean 0.1419).

(The grid ran before the unobserved target's ``μ + b_c`` was scaled by ``ρ`` too;
at step 0, where ``μ = b_c = 0``, the figures are the same.) The run without
friends, same seed: 0.2502 at step 0; k-shot from its prior
0.051/0.092/0.115/0.124/0.150, and with the friends' rows of serving (γ = 0.1)
0.127/0.134/0.138/0.140/0.155. As without friends, the outer loop (the catalogue
softmax) does not improve validation nDCG, also when only the friends' vectors
learn; on k-shot supports it gains 0.002 on its own validation episodes and loses
on the k-shot curves. The chosen model is the warm start to within a step.
"""

from experiments.configs import foldin_lastfm

K_SHOT = (0, 1, 3, 5, 10)
FRIENDS = ("user_prior", "prior_pull")
GRID = [
    {"optimizer.learning_rate": 1e-4},
    {"model.kwargs.user_pull": (3.0, -3.0)},
    {"model.kwargs.user_pull": (3.0, -0.75)},
    {"model.kwargs.user_pull": (6.0, -1.5)},
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
