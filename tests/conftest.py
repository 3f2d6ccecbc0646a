"""Shared fixtures. Tests import the installed kanpde package (see pytest's importlib mode in pyproject)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread():
    # Small tensors gain nothing from threads, and on a busy two-core machine extra threads can stall.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
