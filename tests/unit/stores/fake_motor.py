"""An in-process stand-in for the few motor calls ``MongoTrackerStore`` makes.

No MongoDB server runs on this machine, so the Mongo store's logic (sequence
reservation, fence check through the upsert's duplicate key, session pointer,
range query) is exercised against this fake. It implements exactly the calls
and operators the store uses, with MongoDB's semantics for them, and yields to
the loop in every call so concurrent tasks interleave as they would over a
network. It is not a MongoDB emulator: anything else raises.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

Document = dict[str, Any]


class FakeMongoServer:
    """Holds the data; clients made by ``client_factory`` share it (restarts keep it)."""

    def __init__(self) -> None:
        self.databases: dict[str, FakeDatabase] = {}
        self.available = True
        self.clients_closed = 0

    def client_factory(self, settings: object) -> FakeClient:
        return FakeClient(self)


class FakeClient:
    def __init__(self, server: FakeMongoServer) -> None:
        self._server = server
        self.admin = _Admin(server)

    def __getitem__(self, name: str) -> FakeDatabase:
        return self._server.databases.setdefault(name, FakeDatabase(self._server))

    def close(self) -> None:
        self._server.clients_closed += 1


class _Admin:
    def __init__(self, server: FakeMongoServer) -> None:
        self._server = server

    async def command(self, name: str) -> Document:
        await _io(self._server)
        if name != "ping":
            raise NotImplementedError(name)
        return {"ok": 1.0}


class FakeDatabase:
    def __init__(self, server: FakeMongoServer) -> None:
        self._server = server
        self.collections: dict[str, FakeCollection] = {}

    def __getitem__(self, name: str) -> FakeCollection:
        return self.collections.setdefault(name, FakeCollection(self._server))


class FakeCollection:
    def __init__(self, server: FakeMongoServer) -> None:
        self._server = server
        self.documents: list[Document] = []
        # unique index fields -> keys present (an index, so inserts stay O(1))
        self.unique: dict[tuple[str, ...], set[tuple[Any, ...]]] = {("_id",): set()}
        self._ids = itertools.count(1)

    async def create_index(self, keys: Sequence[tuple[str, int]], **options: Any) -> str:
        await _io(self._server)
        if options.get("unique"):
            fields = tuple(name for name, _ in keys)
            if fields not in self.unique:
                self.unique[fields] = {_key(d, fields) for d in self.documents}
        return str(options.get("name", "index"))

    async def find_one(
        self, query: Mapping[str, Any], projection: Mapping[str, int] | None = None
    ) -> Document | None:
        await _io(self._server)
        for document in self.documents:
            if _matches(document, query):
                return _project(document, projection)
        return None

    def find(
        self, query: Mapping[str, Any], projection: Mapping[str, int] | None = None
    ) -> FakeCursor:
        return FakeCursor(self._server, self.documents, query, projection)

    async def find_one_and_update(
        self,
        query: Mapping[str, Any],
        update: Mapping[str, Mapping[str, Any]],
        *,
        upsert: bool = False,
        return_document: bool = ReturnDocument.BEFORE,
    ) -> Document | None:
        await _io(self._server)
        for document in self.documents:
            if _matches(document, query):
                before = copy.deepcopy(document)
                _apply(document, update)
                return (
                    before if return_document == ReturnDocument.BEFORE else copy.deepcopy(document)
                )
        if not upsert:
            return None
        document = {k: v for k, v in query.items() if not isinstance(v, Mapping)}
        _apply(document, update)
        self._add(document)
        return None if return_document == ReturnDocument.BEFORE else copy.deepcopy(document)

    async def update_one(
        self, query: Mapping[str, Any], update: Mapping[str, Mapping[str, Any]]
    ) -> None:
        await _io(self._server)
        for document in self.documents:
            if _matches(document, query):
                _apply(document, update)
                return

    async def insert_many(self, documents: Sequence[Document], *, ordered: bool = True) -> None:
        await _io(self._server)
        for document in documents:
            document = copy.deepcopy(document)
            document.setdefault("_id", f"oid-{next(self._ids)}")
            self._add(document)

    async def delete_one(self, query: Mapping[str, Any]) -> None:
        await _io(self._server)
        for position, document in enumerate(self.documents):
            if _matches(document, query):
                del self.documents[position]
                self._reindex()
                return

    async def delete_many(self, query: Mapping[str, Any]) -> None:
        await _io(self._server)
        self.documents[:] = [d for d in self.documents if not _matches(d, query)]
        self._reindex()

    def _add(self, new: Document) -> None:
        for fields, keys in self.unique.items():
            if _key(new, fields) in keys:
                raise DuplicateKeyError(f"E11000 duplicate key on {fields}: {_key(new, fields)}")
        for fields, keys in self.unique.items():
            keys.add(_key(new, fields))
        self.documents.append(new)

    def _reindex(self) -> None:
        for fields in self.unique:
            self.unique[fields] = {_key(d, fields) for d in self.documents}


def _key(document: Document, fields: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(document.get(f) for f in fields)


class FakeCursor:
    def __init__(
        self,
        server: FakeMongoServer,
        documents: list[Document],
        query: Mapping[str, Any],
        projection: Mapping[str, int] | None,
    ) -> None:
        self._server = server
        self._documents = documents
        self._query = query
        self._projection = projection
        self._sort: tuple[str, int] | None = None
        self._results: Iterator[Document] | None = None

    def sort(self, key: str, direction: int) -> FakeCursor:
        self._sort = (key, direction)
        return self

    def __aiter__(self) -> FakeCursor:
        return self

    async def __anext__(self) -> Document:
        await _io(self._server)
        if self._results is None:
            found = [d for d in self._documents if _matches(d, self._query)]
            if self._sort is not None:
                key, direction = self._sort
                found.sort(key=lambda d: d[key], reverse=direction < 0)
            self._results = iter([_project(d, self._projection) for d in found])
        try:
            return next(self._results)
        except StopIteration:
            raise StopAsyncIteration from None


async def _io(server: FakeMongoServer) -> None:
    await asyncio.sleep(0)
    if not server.available:
        from pymongo.errors import ServerSelectionTimeoutError

        raise ServerSelectionTimeoutError("fake server is down")


_OPERATORS = {
    "$gte": lambda a, b: a is not None and a >= b,
    "$gt": lambda a, b: a is not None and a > b,
    "$lte": lambda a, b: a is not None and a <= b,
    "$lt": lambda a, b: a is not None and a < b,
}


def _matches(document: Document, query: Mapping[str, Any]) -> bool:
    for field, condition in query.items():
        value = document.get(field)
        if isinstance(condition, Mapping):
            for operator, operand in condition.items():
                if not _OPERATORS[operator](value, operand):
                    return False
        elif field not in document or value != condition:
            return False
    return True


def _apply(document: Document, update: Mapping[str, Mapping[str, Any]]) -> None:
    for operator, fields in update.items():
        for field, operand in fields.items():
            if operator == "$inc":
                document[field] = document.get(field, 0) + operand
            elif operator == "$max":
                if field not in document or operand > document[field]:
                    document[field] = operand
            elif operator == "$set":
                document[field] = operand
            else:
                raise NotImplementedError(operator)


def _project(document: Document, projection: Mapping[str, int] | None) -> Document:
    if not projection:
        return copy.deepcopy(document)
    included = {k for k, v in projection.items() if v}
    result = {k: copy.deepcopy(v) for k, v in document.items() if k in included}
    if projection.get("_id", 1) and "_id" in document:
        result["_id"] = document["_id"]
    return result
