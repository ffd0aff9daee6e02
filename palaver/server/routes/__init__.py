"""HTTP routes, one Blueprint per module.

``basic`` is always mounted; ``api_blueprints()`` are mounted with
``--enable-api`` (Rasa's HTTP API plus its OpenAPI document).
"""

from __future__ import annotations

from sanic import Blueprint


def api_blueprints() -> list[Blueprint]:
    """The blueprints of the HTTP API (conversations, model, domain, OpenAPI document)."""
    from palaver.server.routes import conversations, docs, domain, model

    return [conversations.blueprint, model.blueprint, domain.blueprint, docs.blueprint]
