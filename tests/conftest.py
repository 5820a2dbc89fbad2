"""Session-wide test settings: one thread, no network, and CPU only unless the gpu-marked tests were asked for
(`pytest -m gpu` on a machine with CUDA)."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    markexpr = config.getoption("markexpr") or ""
    if "gpu" not in markexpr.replace("not gpu", ""):
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # the default run stays on the CPU


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    import torch

    torch.set_num_threads(1)
    yield
