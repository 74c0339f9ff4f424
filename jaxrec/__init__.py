"""jaxrec: cold-start recommendation with meta-learning and language-model features."""

__version__ = "0.1.0"
