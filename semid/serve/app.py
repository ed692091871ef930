"""The HTTP API over a loaded :class:`semid.Retriever`.

Endpoints (OpenAPI docs at ``/docs``, schema at ``/openapi.json``)::

    POST /search      {"query": "dark heist comedy", "k": 10}   or {"queries": [...], "k": 10}
    POST /recommend   {"history": [3, 17, 42], "k": 10}         or {"histories": [[...], ...], "k": 10}
    GET  /items/{id}  the catalogue entry of one item
    GET  /health      {"status": "ok", "items": ..., ...}

Both POST answers are ``{"results": [{"input": ..., "hits": [{rank, item_id, title, score}]}]}``,
one entry per query or history. Bad input gets a 4xx JSON answer ``{"error": "<one line>"}``
(plus ``detail`` or ``unknown_item_ids`` where useful), never a 500 with a traceback. The model
is passed in already loaded (``semid serve`` loads it before the port opens). One worker thread
owns it (torch modules and the tries are not safe to share between threads): concurrent requests
queue up and the worker answers what has arrived in one batched call (:class:`Batcher`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from semid.generative.config import DEFAULT_SERVE_K

logger = logging.getLogger(__name__)

__all__ = ["create_app", "MAX_K", "MAX_QUERY_CHARS", "MAX_BATCH", "MAX_HISTORY"]

#: limits of one request (a request over them gets 422 naming the limit)
MAX_K = 100
MAX_QUERY_CHARS = 512
MAX_BATCH = 64
MAX_HISTORY = 1000

ItemId = int | str


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    k: int = Field(DEFAULT_SERVE_K, ge=1, le=MAX_K, description=f"items to return per input, 1..{MAX_K} (and at most the catalogue size)")


class SearchRequest(_Body):
    """One query (``query``) or a batch (``queries``)."""

    query: str | None = Field(None, max_length=MAX_QUERY_CHARS, examples=["a funny space adventure"])
    queries: list[str] | None = Field(None, min_length=1, max_length=MAX_BATCH)

    @field_validator("query")
    @classmethod
    def _not_blank(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("query is empty")
        return v

    @field_validator("queries")
    @classmethod
    def _each_ok(cls, v: list[str] | None) -> list[str] | None:
        for n, q in enumerate(v or []):
            if not q.strip():
                raise ValueError(f"queries[{n}] is empty")
            if len(q) > MAX_QUERY_CHARS:
                raise ValueError(f"queries[{n}] has {len(q)} characters, more than the limit of {MAX_QUERY_CHARS}")
        return v

    @model_validator(mode="after")
    def _exactly_one(self) -> SearchRequest:
        if (self.query is None) == (self.queries is None):
            raise ValueError("give exactly one of 'query' (a string) or 'queries' (a list of strings)")
        return self


class RecommendRequest(_Body):
    """One history (``history``) or a batch (``histories``); item ids are the catalogue's, oldest first."""

    history: list[ItemId] | None = Field(None, min_length=1, max_length=MAX_HISTORY, examples=[[1, 2, 3]])
    histories: list[list[ItemId]] | None = Field(None, min_length=1, max_length=MAX_BATCH)

    @field_validator("histories")
    @classmethod
    def _each_ok(cls, v: list[list[ItemId]] | None) -> list[list[ItemId]] | None:
        for n, h in enumerate(v or []):
            if not h:
                raise ValueError(f"histories[{n}] is empty; a history needs at least one item id")
            if len(h) > MAX_HISTORY:
                raise ValueError(f"histories[{n}] has {len(h)} items, more than the limit of {MAX_HISTORY}")
        return v

    @model_validator(mode="after")
    def _exactly_one(self) -> RecommendRequest:
        if (self.history is None) == (self.histories is None):
            raise ValueError("give exactly one of 'history' (a list of item ids) or 'histories' (a list of lists)")
        return self


class HitOut(BaseModel):
    rank: int
    item_id: ItemId
    title: str
    score: float


class ResultOut(BaseModel):
    input: Any
    hits: list[HitOut]


class Results(BaseModel):
    results: list[ResultOut]


class ItemOut(BaseModel):
    item_id: ItemId
    title: str


class Health(BaseModel):
    status: str
    items: int
    trained_items: int
    added_items: int
    device: str
    model: str


class ErrorOut(BaseModel):
    error: str


class Batcher:
    """The only thread that calls the model. ``submit(task, inputs, k)`` queues one request and
    waits; the worker takes everything queued (up to ``max_batch`` inputs, waiting at most
    ``max_wait_s`` for more once it has one) and answers it with one ``search`` / ``recommend``
    call per (task, k). A request's error (ValueError) goes back to that request alone.

    Written here rather than taken from a library: the serving frameworks that batch (Ray Serve,
    BentoML, TorchServe) would each bring a runtime of their own for these forty lines."""

    def __init__(self, retriever, max_batch: int = 64, max_wait_s: float = 0.002) -> None:
        self.retriever = retriever
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="semid-model", daemon=True)
        self._thread.start()

    def submit(self, task: str, inputs: list, k: int) -> list:
        fut: Future = Future()
        self._queue.put((task, k, inputs, fut))
        return fut.result()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _take(self) -> list | None:
        first = self._queue.get()
        if first is None:
            return None
        jobs, n = [first], len(first[2])
        deadline = time.monotonic() + self.max_wait_s
        while n < self.max_batch:
            try:
                job = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if job is None:
                self._queue.put(None)
                break
            jobs.append(job)
            n += len(job[2])
        return jobs

    def _run(self) -> None:
        while (jobs := self._take()) is not None:
            groups: dict[tuple[str, int], list] = {}
            for job in jobs:
                groups.setdefault((job[0], job[1]), []).append(job)
            for (task, k), group in groups.items():
                call = self.retriever.search if task == "search" else self.retriever.recommend
                try:
                    out = call([x for job in group for x in job[2]], k=k)
                except Exception:  # noqa: BLE001 - one bad request must not fail the others: retry alone
                    for job in group:
                        try:
                            job[3].set_result(call(job[2], k=k))
                        except Exception as exc:  # noqa: BLE001
                            job[3].set_exception(exc)
                    continue
                start = 0
                for job in group:
                    job[3].set_result(out[start:start + len(job[2])])
                    start += len(job[2])


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": message, **extra})


def _where(loc: tuple) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "body"


def _invalid_request(exc: RequestValidationError) -> JSONResponse:
    """400 for a body that is not JSON, else 422 with one line naming each bad field (plus ``detail``)."""
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        msg = "; ".join(str(e.get("ctx", {}).get("error", e.get("msg"))) for e in errors)
        return _error(400, f"malformed JSON body: {msg}")
    lines = []
    for e in errors:
        msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        lines.append(f"{_where(tuple(e.get('loc', ())))}: {msg}")
    return _error(422, "; ".join(lines),
                  detail=[{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in errors])


def _add_error_handlers(app: FastAPI) -> None:
    """Every error answer is ``{"error": "<one line>"}``: bad input 4xx, a bug 500 without a traceback."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _invalid_request(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:  # 404 route, 405 method, ...
        return _error(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}; see /docs for the API")

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:  # a bug, not bad input: no traceback out
        logger.exception("error answering %s %s", request.method, request.url.path)
        return _error(500, f"internal error ({type(exc).__name__}); see the server log")


def _check_k(retriever, k: int) -> JSONResponse | None:
    if k > retriever.n_items:
        return _error(422, f"k: {k} is more than the {retriever.n_items} items in the catalogue")
    return None


def _results(inputs: list, lists) -> dict:
    return {"results": [{"input": x, "hits": [{"rank": r, "item_id": h.item_id, "title": h.title,
                                               "score": round(float(h.score), 5)}
                                              for r, h in enumerate(hits, 1)]}
                        for x, hits in zip(inputs, lists, strict=True)]}


def _resolve(retriever, histories: list[list[ItemId]]) -> tuple[list[list], list[ItemId]]:
    """The histories' item ids resolved by the retriever, and the ids it does not know (in order, once each)."""
    unknown, resolved = [], []
    for h in histories:
        ids = [retriever.find(i) for i in h]
        unknown += [raw for raw, i in zip(h, ids, strict=True) if i is None]
        resolved.append(ids)
    return resolved, list(dict.fromkeys(unknown))


def create_app(retriever, model_name: str = "", max_batch: int = 64, max_wait_s: float = 0.002) -> FastAPI:
    """The API over ``retriever`` (a loaded :class:`semid.Retriever`); ``model_name`` is reported by
    /health; ``max_batch`` / ``max_wait_s``: the :class:`Batcher`'s limits."""
    batcher: dict[str, Batcher] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        batcher["b"] = Batcher(retriever, max_batch, max_wait_s)
        yield
        batcher.pop("b").close()

    app = FastAPI(title="semid", summary="Generative search and recommendation with Semantic IDs",
                  description=__doc__.split("\n\n")[1] if __doc__ else None, lifespan=lifespan)
    bad = {422: {"model": ErrorOut, "description": "invalid request (the message names the problem)"}}
    _add_error_handlers(app)

    @app.post("/search", response_model=Results, responses=bad)
    def search(body: SearchRequest):
        """The top ``k`` items for a query or a batch of queries."""
        if (err := _check_k(retriever, body.k)) is not None:
            return err
        texts = [body.query] if body.query is not None else list(body.queries or [])
        lists = batcher["b"].submit("search", texts, body.k)
        return _results(texts, lists)

    @app.post("/recommend", response_model=Results, responses=bad)
    def recommend(body: RecommendRequest):
        """The top ``k`` next items for a history or a batch of histories."""
        if (err := _check_k(retriever, body.k)) is not None:
            return err
        histories = [body.history] if body.history is not None else list(body.histories or [])
        resolved, unknown = _resolve(retriever, histories)
        if unknown:
            return _error(422, f"unknown item id(s) in history: {unknown[:20]}", unknown_item_ids=unknown)
        try:
            lists = batcher["b"].submit("rec", resolved, body.k)
        except ValueError as exc:  # e.g. a history holding an item added after training
            return _error(422, str(exc))
        return _results(histories, lists)

    @app.get("/items/{item_id}", response_model=ItemOut, responses={404: {"model": ErrorOut}})
    def item(item_id: str):
        """The catalogue entry of one item (its own id)."""
        found = retriever.find(item_id)
        if found is None:
            return _error(404, f"item id {item_id!r} is not in the catalogue")
        return {"item_id": found, "title": retriever.item(found).title}

    @app.get("/health", response_model=Health)
    def health():
        """Liveness and what is loaded."""
        return {"status": "ok", "items": retriever.n_items, "trained_items": retriever.n_trained,
                "added_items": retriever.n_items - retriever.n_trained, "device": retriever.device, "model": model_name}

    return app
