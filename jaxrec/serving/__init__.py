"""jaxrec.serving: recommending for brand-new users from a trained run, one idea per module.

- :mod:`~jaxrec.serving.records`: the plain records (``Recommender``,
  ``Recommendation``, ``Explanation``, ``Driver``, the ``Server`` alias);
- :mod:`~jaxrec.serving.bundle`: the serving bundle training writes into the run
  directory (feature tables, raw ids, titles, explanation vectors, popularity,
  rating range), so that serving never reads the dataset;
- :mod:`~jaxrec.serving.requests`: checks of a request (ratings, ``user_features``, ``k``);
- :mod:`~jaxrec.serving.signals`: what a user says besides ratings (friends, a
  description) as weighted support rows;
- :mod:`~jaxrec.serving.explain`: explanations;
- :mod:`~jaxrec.serving.server`: ``load_recommender``, ``recommend``,
  ``recommend_batch`` and the jitted server;
- :mod:`~jaxrec.serving.io`: the CLI's rating files and table.

:mod:`jaxrec.recommend` re-exports the public names. This package module imports
none of its submodules, so ``jaxrec.train`` can import ``jaxrec.serving.bundle``
without importing the server (which imports ``jaxrec.train``).
"""
