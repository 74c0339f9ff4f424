"""jaxrec.meta."""
