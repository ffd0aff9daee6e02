"""A loaded model: domain, NLU pipeline and policy ensemble from one archive."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from palaver.errors import ModelError
from palaver.storage.archive import ModelMetadata, read_metadata, unpack

logger = logging.getLogger(__name__)

# How many distinct unknown intents/entities one model warns about.
_UNSEEN_MAX = 1000


@dataclass(frozen=True)
class LoadedModel:
    """Immutable once loaded; the runtime swaps whole instances."""

    metadata: ModelMetadata
    domain: Any
    nlu: Any | None
    policies: Any
    archive: Path | None = None
    # Parsing takes milliseconds (a neural sentence encoder): run it in a worker
    # thread so the event loop keeps serving other conversations meanwhile.
    parse_in_thread: bool = False
    # Intents and entity types parsed but missing from the domain, warned about once.
    _unseen_reported: set[str] = field(default_factory=set, compare=False, repr=False)

    def warn_unseen(self, parse_data: dict[str, Any]) -> None:
        """Warn (once per name) about a parsed intent or entity type the domain lacks.

        Rasa warns on every such message; a server logs each name once.
        """
        domain = self.domain
        if domain is None:
            return
        intent = (parse_data.get("intent") or {}).get("name")
        found = [] if not intent or intent in domain.intent_properties else [("intent", intent)]
        for entity in parse_data.get("entities") or []:
            name = entity.get("entity") if isinstance(entity, dict) else None
            if name and name not in domain.entities:
                found.append(("entity", name))
        for kind, name in found:
            key = f"{kind}:{name}"
            if key in self._unseen_reported or len(self._unseen_reported) >= _UNSEEN_MAX:
                continue
            self._unseen_reported.add(key)
            logger.warning(
                "Parsed the %s '%s', which is not defined in the domain; list it in "
                "domain.yml (warned once per model)",
                kind,
                name,
            )

    def parse(self, text: str, message_id: str | None = None) -> dict[str, Any]:
        """Rasa parse JSON for ``text`` (an empty result without an NLU model)."""
        if self.nlu is None:
            return {
                "text": text,
                "intent": {"name": None, "confidence": 0.0},
                "entities": [],
                "intent_ranking": [],
            }
        result: dict[str, Any] = self.nlu.parse(text, message_id=message_id)
        return result


def load_model(archive: Path) -> LoadedModel:
    """Unpack, deserialize and validate a model archive. Blocking: run in a thread.

    Raises:
        ModelError: the archive is corrupt, incomplete or from an incompatible version.
    """
    from palaver.core.domain import Domain
    from palaver.nlu.pipeline import NLUPipeline
    from palaver.policies.ensemble import PolicyEnsemble

    metadata = read_metadata(archive)
    workdir = unpack(archive)
    try:
        domain_file = workdir / "domain.yml"
        if not domain_file.exists():
            raise ModelError(f"'{archive}' has no domain.yml.")
        try:
            domain = Domain.from_yaml(domain_file.read_text(encoding="utf-8"), str(domain_file))
            nlu = NLUPipeline.load(workdir / "nlu") if (workdir / "nlu").is_dir() else None
            policies = PolicyEnsemble.load(workdir / "core")
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(f"'{archive}' could not be loaded: {exc}") from exc
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return LoadedModel(
        metadata=metadata,
        domain=domain,
        nlu=nlu,
        policies=policies,
        archive=archive,
        parse_in_thread=_has_slow_components(nlu),
    )


# NLU components whose parse costs milliseconds rather than microseconds (a neural
# encoder, a call to a Duckling server).
SLOW_COMPONENTS = frozenset({"PretrainedEmbeddingFeaturizer", "DucklingEntityExtractor"})


def _has_slow_components(nlu: Any) -> bool:
    components = getattr(nlu, "components", None) or []
    return any(type(c).__name__ in SLOW_COMPONENTS for c in components)
