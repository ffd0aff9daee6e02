"""``GET /openapi.json``: the OpenAPI document of the HTTP API (no auth: it holds no data)."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request
from sanic.response import json as json_response

from palaver.server.openapi import openapi_document

blueprint = Blueprint("api_docs")


@blueprint.get("/openapi.json")
async def openapi_json(request: Request) -> HTTPResponse:
    return json_response(openapi_document())
