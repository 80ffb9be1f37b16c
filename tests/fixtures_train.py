"""Fixtures of the train stage (trained runs)."""
