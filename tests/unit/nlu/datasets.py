"""Small fixed NLU datasets shared by the NLU tests."""

from __future__ import annotations

from palaver.nlu.training_data import EntitySpan, TrainingExample

GREET = ["hello", "hi there", "good morning", "hey", "hello bot", "hi", "hey there", "howdy"]
GOODBYE = ["bye", "goodbye", "see you later", "bye bye", "good night", "ciao", "farewell", "cya"]
THANKS = ["thanks", "thank you", "thanks a lot", "many thanks", "thank you so much", "cheers"]
ASK_NAME = ["what is your name", "who are you", "tell me your name", "what are you called"]
ASK_AGE = ["how old are you", "what is your age", "when were you born", "what age are you"]
CITIES = [
    ("Berlin", "London"), ("Paris", "Rome"), ("Madrid", "Oslo"), ("Vienna", "Prague"),
    ("Lisbon", "Dublin"), ("Athens", "Warsaw"), ("Zurich", "Munich"), ("Sofia", "Riga"),
]  # fmt: skip


def example(text: str, intent: str, *entities: tuple[str, str, str | None]) -> TrainingExample:
    """An example whose entities are given as ``(substring, type, role)``."""
    spans = []
    for sub, entity, role in entities:
        start = text.index(sub)
        spans.append(EntitySpan(start, start + len(sub), entity, sub, role=role))
    return TrainingExample(text, intent, tuple(spans))


def simple_examples() -> list[TrainingExample]:
    return [
        *(TrainingExample(t, "greet") for t in GREET),
        *(TrainingExample(t, "goodbye") for t in GOODBYE),
        *(TrainingExample(t, "thank") for t in THANKS),
    ]


def flight_examples() -> list[TrainingExample]:
    result = []
    for a, b in CITIES:
        result.append(
            example(
                f"I want to fly from {a} to {b}",
                "book_flight",
                (a, "city", "from"),
                (b, "city", "to"),
            )
        )
        result.append(
            example(
                f"book a flight to {b} from {a}",
                "book_flight",
                (b, "city", "to"),
                (a, "city", "from"),
            )
        )
    return result


def faq_examples() -> list[TrainingExample]:
    return [
        *(TrainingExample(t, "faq/ask_name") for t in ASK_NAME),
        *(TrainingExample(t, "faq/ask_age") for t in ASK_AGE),
    ]


FAQ_RESPONSES = {
    "utter_faq/ask_name": [{"text": "I am Palaver."}],
    "utter_faq/ask_age": [{"text": "Younger than Rasa."}],
}
