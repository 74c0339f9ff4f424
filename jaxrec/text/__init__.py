"""jaxrec.text."""
