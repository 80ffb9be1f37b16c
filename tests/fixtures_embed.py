"""Fixtures of the embed stage (tiny local models, embedded datasets)."""
