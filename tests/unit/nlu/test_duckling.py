"""DucklingEntityExtractor against a stand-in Duckling server.

Duckling (a Haskell service) cannot be installed here. The stand-in below is
a real HTTP server on loopback that speaks Duckling's documented contract:
``POST /parse`` with form fields ``text``, ``locale``, ``tz``, ``dims`` and
``reftime``, answering a JSON list of matches shaped like Duckling's.
"""

from __future__ import annotations

import http.server
import logging
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from palaver.core.model import load_model
from palaver.errors import ConfigError
from palaver.nlu import NLUPipeline
from palaver.nlu.duckling import DucklingEntityExtractor
from palaver.nlu.message import Message
from palaver.nlu.training_data import NLUTrainingData
from tests.unit.nlu.datasets import simple_examples

TOMORROW = {
    "body": "tomorrow at eight",
    "start": 10,
    "end": 27,
    "dim": "time",
    "latent": False,
    "value": {
        "value": "2026-11-23T08:00:00.000+00:00",
        "grain": "hour",
        "type": "value",
        "values": [{"value": "2026-11-23T08:00:00.000+00:00", "grain": "hour", "type": "value"}],
    },
}
WEEKEND = {
    "body": "this weekend",
    "start": 0,
    "end": 12,
    "dim": "time",
    "latent": False,
    "value": {
        "type": "interval",
        "from": {"value": "2026-11-27T18:00:00.000+00:00", "grain": "hour"},
        "to": {"value": "2026-11-30T00:00:00.000+00:00", "grain": "hour"},
    },
}
FIFTY_DOLLARS = {
    "body": "$50",
    "start": 4,
    "end": 7,
    "dim": "amount-of-money",
    "latent": False,
    "value": {"value": 50, "type": "value", "unit": "$"},
}
ANSWERS = {
    "book a table tomorrow at eight": [TOMORROW],
    "this weekend": [WEEKEND],
    "pay $50": [FIFTY_DOLLARS, {**FIFTY_DOLLARS, "dim": "number", "value": {"value": 50}}],
}


class StandInDuckling(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict[str, str]] = []
        self.connections = 0
        self.status = 200
        # Close each connection after answering, without telling the client
        # (an idle timeout or a restart between two messages).
        self.drop_after_answer = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Duckling's warp server
    server: StandInDuckling

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        fields = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        self.server.requests.append({"path": self.path, **fields})
        status = self.server.status
        body = orjson.dumps(ANSWERS.get(fields.get("text", ""), [])) if status == 200 else b"boom"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if self.server.drop_after_answer:
            self.close_connection = True

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def duckling() -> Iterator[StandInDuckling]:
    server = StandInDuckling()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def extract(component: DucklingEntityExtractor, text: str) -> list[dict[str, Any]]:
    message = Message(text)
    component.process(message)
    return message.entities


def test_matches_become_rasa_entities(duckling: StandInDuckling) -> None:
    component = DucklingEntityExtractor(
        {"url": duckling.url, "locale": "en_GB", "timezone": "Europe/Berlin"}
    )
    before = int(time.time() * 1000)
    [entity] = extract(component, "book a table tomorrow at eight")
    assert entity == {
        "entity": "time",
        "start": 10,
        "end": 27,
        "text": "tomorrow at eight",
        "value": "2026-11-23T08:00:00.000+00:00",
        "confidence": 1.0,
        "additional_info": TOMORROW["value"],
        "extractor": "DucklingEntityExtractor",
    }
    [sent] = duckling.requests
    assert sent["path"] == "/parse"
    assert (sent["text"], sent["locale"], sent["tz"], sent["dims"]) == (
        "book a table tomorrow at eight",
        "en_GB",
        "Europe/Berlin",
        "[]",
    )
    assert before <= int(sent["reftime"]) <= int(time.time() * 1000)


def test_an_interval_has_from_and_to(duckling: StandInDuckling) -> None:
    [entity] = extract(DucklingEntityExtractor({"url": duckling.url}), "this weekend")
    assert entity["value"] == {
        "from": "2026-11-27T18:00:00.000+00:00",
        "to": "2026-11-30T00:00:00.000+00:00",
    }


def test_only_the_configured_dimensions_are_kept(duckling: StandInDuckling) -> None:
    component = DucklingEntityExtractor({"url": duckling.url, "dimensions": ["amount-of-money"]})
    entities = extract(component, "pay $50")
    assert [(e["entity"], e["value"]) for e in entities] == [("amount-of-money", 50)]
    assert orjson.loads(duckling.requests[0]["dims"]) == ["amount-of-money"]
    assert component.entity_types == ["amount-of-money"]


def test_one_kept_alive_connection_and_a_fresh_one_after_the_server_closed_it(
    duckling: StandInDuckling,
) -> None:
    component = DucklingEntityExtractor({"url": duckling.url})
    for _ in range(5):
        assert extract(component, "this weekend")
    assert duckling.connections == 1
    duckling.drop_after_answer = True
    assert extract(component, "this weekend")  # answered, then the server hangs up
    assert extract(component, "this weekend")  # the stale connection is replaced
    assert duckling.connections == 2
    assert len(duckling.requests) == 7


@pytest.mark.parametrize("broken", ["down", "error"])
def test_a_failing_server_costs_the_entities_not_the_message(
    duckling: StandInDuckling, broken: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = duckling.url
    if broken == "down":
        duckling.shutdown()
        duckling.server_close()
    else:
        duckling.status = 500
    component = DucklingEntityExtractor({"url": url, "timeout": 1})
    with caplog.at_level(logging.ERROR, logger="palaver.nlu.duckling"):
        assert extract(component, "this weekend") == []
    assert "Duckling at" in caplog.text


def test_environment_variable_overrides_the_url(
    duckling: StandInDuckling, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RASA_DUCKLING_HTTP_URL", duckling.url)
    component = DucklingEntityExtractor({"url": "http://127.0.0.1:9"})
    assert extract(component, "this weekend")


def test_without_url_nothing_is_extracted_with_a_warning(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RASA_DUCKLING_HTTP_URL", raising=False)
    with caplog.at_level(logging.WARNING, logger="palaver.nlu.duckling"):
        assert extract(DucklingEntityExtractor({}), "this weekend") == []
    assert "no 'url'" in caplog.text


def test_a_malformed_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'url' must be an http"):
        DucklingEntityExtractor({"url": "localhost:8000"})


def test_in_a_trained_pipeline_it_survives_persisting_and_parses_in_a_thread(
    duckling: StandInDuckling, tmp_path: Path
) -> None:
    config = [
        {"name": "WhitespaceTokenizer"},
        {"name": "CountVectorsFeaturizer"},
        {"name": "LogisticRegressionClassifier"},
        {"name": "DucklingEntityExtractor", "url": duckling.url, "dimensions": ["time"]},
    ]
    pipeline = NLUPipeline.train(NLUTrainingData(examples=simple_examples()), config, "de")
    pipeline.persist(tmp_path / "nlu")
    loaded = NLUPipeline.load(tmp_path / "nlu")
    parsed = loaded.parse("book a table tomorrow at eight")
    assert [e["entity"] for e in parsed["entities"]] == ["time"]
    # The locale defaults from the pipeline's language, as Rasa builds it.
    assert duckling.requests[-1]["locale"] == "de_DE"


def test_a_model_with_duckling_parses_off_the_event_loop(
    duckling: StandInDuckling, tmp_path: Path
) -> None:
    from palaver.training import train_project

    project = tmp_path / "bot"
    (project / "data").mkdir(parents=True)
    (project / "config.yml").write_text(
        "language: en\npipeline:\n  - name: WhitespaceTokenizer\n"
        "  - name: CountVectorsFeaturizer\n  - name: LogisticRegressionClassifier\n"
        f"  - name: DucklingEntityExtractor\n    url: {duckling.url}\n"
        "policies:\n  - name: RulePolicy\n"
    )
    (project / "domain.yml").write_text(
        'version: "3.1"\nintents: [greet, book]\nentities: [time]\n'
        "responses:\n  utter_greet:\n  - text: hi\n"
    )
    (project / "data" / "nlu.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - hi\n    - hello\n'
        "- intent: book\n  examples: |\n    - book a table\n    - reserve a table\n"
    )
    archive = train_project(project, out_dir=tmp_path / "models").archive
    model = load_model(archive)
    assert model.parse_in_thread
    parsed = model.parse("book a table tomorrow at eight")
    assert parsed["entities"][0]["value"] == "2026-11-23T08:00:00.000+00:00"
