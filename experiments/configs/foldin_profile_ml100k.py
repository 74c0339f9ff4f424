r"""The ML-100K fold-in whose prior reads the user's profile (age, gender, occupation, zip).

  python -m experiments.meta_train --config=experiments/configs/foldin_profile_ml100k.py \
      --workdir=workdirs/foldin_profile_ml100k --evaluate

``experiments/configs/foldin_kshot_ml100k.py`` (trained for users with 0-3
ratings) with one input more: the prior mean gains ``Σ_f E_f[x_{u,f}]``, a
learned ``(p, b)`` vector per age bracket, gender, occupation and zip prefix
(``user_fields``, :mod:`jaxrec.models.foldin`; zero-initialised, so training
starts from the same warm start as the config without profile).
``foldin_kshot_ml100k.py``, run on the same seeds, is this model retrained without
the profile input.

Grid on seed 0's validation users (test users not looked at). Each point's run
selects its step on the validation RMSE (supports cut as in training when
``data.train_support_sizes`` is set); the points are compared on the validation
users' k-shot curves (the liked pools of ``jaxrec.profile_curves``: nDCG@10 of
the liked query items at k = 0/1/2/3, from the run's own prior, 58 users):

* k-shot supports, lr 3e-3 (chosen): best RMSE 0.9448 (step 20, from 0.9479 at
  step 0); k-shot 0.0717/0.0743/0.0802/0.0827 (mean 0.0772).
* full supports (``foldin_ml100k.py`` plus the profile), lr 3e-3: RMSE 0.9088
  (full supports); k-shot 0.0696/0.0675/0.0745/0.0776 (mean 0.0723).
* k-shot supports, lr 1e-2, and the same with only the profile tables learning
  (``optimizer.trainable``): best at step 0, then worse (RMSE 0.9499 and 0.9529 at
  step 10); k-shot 0.0620/0.0592/0.0618/0.0642 (mean 0.0618).
* k-shot supports, lr 1e-3: best RMSE 0.9456 (step 20); mean 0.0702. Only the
  profile tables, lr 1e-3: best RMSE 0.9472 (step 20); mean 0.0703.

The model retrained without the profile (``foldin_kshot_ml100k.py``, same seed):
best RMSE 0.9434 (step 20); k-shot 0.0670/0.0672/0.0690/0.0802 (mean 0.0709).
The full-support ``foldin_ml100k.py`` run: 0.0622/0.0710/0.0763/0.0806 (mean
0.0725). With 58 validation users these differences are within noise; the test
users decide, once.
"""

from experiments.configs import foldin_kshot_ml100k

PROFILE = ("age", "gender", "occupation", "zip")
GRID = [
    {},  # chosen
    {"data.train_support_sizes": ()},
    {"optimizer.learning_rate": 1e-2},
    {"optimizer.trainable": ("user_prior",), "optimizer.learning_rate": 1e-2},
    {"optimizer.learning_rate": 1e-3},
    {"optimizer.trainable": ("user_prior",), "optimizer.learning_rate": 1e-3},
]


def get_config():
  c = foldin_kshot_ml100k.get_config()
  c.name = "foldin-profile"
  c.model.kwargs = {**c.model.kwargs, "user_fields": PROFILE}
  return c
