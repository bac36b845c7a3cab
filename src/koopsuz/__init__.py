"""Koopsuz: public-safety video platform (cameras, analytics, command centres)."""

__version__ = "0.1.0"
