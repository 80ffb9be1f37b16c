"""Shared fixtures, one module per stage (each stage's owner edits only its module)."""

from tests.fixtures_prep import *  # noqa: F401,F403
from tests.fixtures_embed import *  # noqa: F401,F403
from tests.fixtures_train import *  # noqa: F401,F403
