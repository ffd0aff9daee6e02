"""Bare floor: a Sanic app that parses the REST payload and answers. No Palaver.

python -m bench.floors.bare --port 5100
"""

from __future__ import annotations

from sanic import HTTPResponse, Request

from bench.floors.common import new_app, parser, read_message, reply, serve

app = new_app("floor_bare")


@app.post("/webhooks/rest/webhook")
async def webhook(request: Request) -> HTTPResponse:
    message = read_message(request)
    if isinstance(message, HTTPResponse):
        return message
    return reply(message[0])


def main() -> None:
    args = parser(__doc__.split("\n\n")[0]).parse_args()
    serve(app, args.host, args.port, args.event_loop)


if __name__ == "__main__":
    main()
