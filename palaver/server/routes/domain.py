"""``GET /domain``: the loaded model's domain as JSON or YAML (by the ``Accept`` header)."""

from __future__ import annotations

from sanic import HTTPResponse, Request
from sanic.response import json as json_response
from sanic.response import text as text_response

from palaver.server.api import api_blueprint, authorized, current_model
from palaver.server.errors import ErrorResponse

blueprint = api_blueprint("domain")

JSON_CONTENT_TYPE = "application/json"
YAML_CONTENT_TYPE = "application/x-yaml"


def _media_types(accept: str) -> list[str]:
    """The media types of an ``Accept`` header, most preferred first (by ``q``)."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept.split(",")):
        media_type, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media_type and quality > 0:
            ranked.append((-quality, position, media_type.lower()))
    return [media_type for _, _, media_type in sorted(ranked)]


def negotiate(accept: str | None) -> str | None:
    """``json``, ``yaml`` or None (406) for an ``Accept`` header; JSON when absent.

    Like Rasa, any type ending in ``json`` means JSON and any ending in
    ``yml``/``yaml`` means YAML; wildcards (``*/*``, ``application/*``) get JSON.
    """
    if not accept or not accept.strip():
        return "json"
    for media_type in _media_types(accept):
        if media_type.endswith("json") or media_type in ("*/*", "application/*"):
            return "json"
        if media_type.endswith(("yml", "yaml")):
            return "yaml"
    return None


@blueprint.get("/domain")
async def get_domain(request: Request) -> HTTPResponse:
    runtime = authorized(request)
    domain = current_model(runtime).domain
    chosen = negotiate(request.headers.get("accept"))
    if chosen == "json":
        return json_response(domain.as_dict())
    if chosen == "yaml":
        return text_response(domain.as_yaml(), content_type=f"{YAML_CONTENT_TYPE}; charset=utf-8")
    raise ErrorResponse(
        406,
        "NotAcceptable",
        "Invalid Accept header. The domain can be provided as json "
        f'("Accept: {JSON_CONTENT_TYPE}") or yml ("Accept: {YAML_CONTENT_TYPE}").',
        {"parameter": "Accept", "in": "header"},
    )
