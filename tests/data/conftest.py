import pytest
from data_toy import make_writer


@pytest.fixture
def writer():
    return make_writer()
