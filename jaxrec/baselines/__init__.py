"""jaxrec.baselines."""
