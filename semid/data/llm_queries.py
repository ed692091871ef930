"""Search queries written by an LLM behind any OpenAI-compatible chat endpoint.

Penha et al., "Semantic IDs for Joint Generative Search and Recommendation" (RecSys 2025,
arXiv 2508.10478), generate 20 queries per movie with an LLM: 10 queries and 10 paraphrases
of them, from the title, year, description and tags (DESIGN.md, step 1). This module sends
the paper's prompt, word for word (:data:`PAPER_PROMPT`), to ``{base_url}/chat/completions``
using only the standard library, and turns the answers into the ``queries`` table of the
semid schema: the 10 queries become ``split="train"``, the 10 paraphrases ``split="test"``.

Behaviour, in short:

- **Format.** The paper's prompt is sent unchanged as the user message. A separate, short
  system message (:data:`FORMAT_INSTRUCTION`, switch off with ``json_instruction=False``)
  asks for JSON ``{"queries": [...], "paraphrases": [...]}``. Answers are accepted as JSON
  (bare, inside a ```json fence, or embedded in prose) or as two numbered/bulleted lists.
  Anything else is *malformed* and asked again.
- **Retries.** Malformed answers, HTTP 429/5xx, timeouts and connection errors are retried
  with exponential backoff and jitter (``Retry-After`` is honoured, capped). Other 4xx
  answers are not retried and raise with the server's message.
- **Title leaks.** Queries that contain the title (:func:`semid.data.text.contains_title`)
  are dropped. If fewer than ``n_queries`` queries or paraphrases remain, the item is asked
  again (this counts as a retry). When retries run out, the best answer seen is kept if it
  has at least one query and one paraphrase, with a warning that states its counts;
  otherwise the item fails. Every item's final count is logged (DEBUG when full, WARNING
  when short) and the run ends with an INFO summary.
- **Failures.** An item that still fails raises :class:`LLMQueryError` naming the item and
  the last problem, unless ``skip_failed=True`` (then it is logged and left out). HTTP
  401/403/404 always raise: they mean the endpoint, key or model is wrong for every item.
- **Cache.** Each item's final answer is written atomically to ``cache_dir`` as one JSON
  file keyed by a hash of model, messages and item id, so an interrupted run resumes
  without asking again for the items it already has.

The parts live beside this module, one concern each: the prompt (:mod:`semid.data.llm_prompt`),
parsing answers (:mod:`semid.data.llm_parse`), one HTTP request (:mod:`semid.data.llm_client`)
and the settings (:mod:`semid.data.llm_config`). This module asks for each item (cache, retries,
title-leak checks) and runs the items in a thread pool; it re-exports the public names.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from semid.cache import RecordCache
from semid.data.llm_client import Cancelled, Refused, Retryable, chat
from semid.data.llm_config import ENV_API_KEY, LLMQueryConfig, LLMQueryError
from semid.data.llm_parse import as_str_list, parse_answer
from semid.data.llm_prompt import (
    FORMAT_INSTRUCTION,
    PAPER_PROMPT,
    build_messages,
    clean_field,
    format_metadata,
)
from semid.data.text import contains_title

logger = logging.getLogger(__name__)

__all__ = [
    "PAPER_PROMPT",
    "FORMAT_INSTRUCTION",
    "LLMQueryConfig",
    "LLMQueryError",
    "build_messages",
    "format_metadata",
    "generate_llm_queries",
    "parse_answer",
]

_CACHE_VERSION = 1


# ---------------------------------------------------------------------------- one item


@dataclass
class _ItemAnswer:
    item_id: int | str
    queries: list[str]
    paraphrases: list[str]
    from_cache: bool


def _id(v: Any) -> int | str:
    """An item id as a plain Python value: int for integer ids, else str (ASINs, SKUs)."""
    return int(v) if isinstance(v, int | np.integer) and not isinstance(v, bool) else str(v)


def _cache_key(cfg: LLMQueryConfig, item_id: int | str, messages: list[dict[str, str]]) -> dict[str, Any]:
    return {"model": cfg.model, "messages": messages, "item_id": item_id}


def _check_cached(n: int) -> Any:
    """A :class:`~semid.cache.RecordCache` check: the record's first ``n`` queries and paraphrases."""
    def check(data: Any) -> tuple[list[str], list[str]]:
        q, p = data["queries"], data["paraphrases"]
        if as_str_list(q) is None or as_str_list(p) is None or not q or not p:
            raise ValueError("empty or non-text lists")
        return q[:n], p[:n]
    return check


def _delay(cfg: LLMQueryConfig, retry: int, retry_after: float | None, rng: random.Random) -> float:
    d = cfg.backoff_base * (2 ** (retry - 1)) * (1.0 + rng.random())
    if retry_after is not None and retry_after > d:
        d = retry_after
    return min(d, cfg.backoff_max)


def _ask_item(row: Any, cfg: LLMQueryConfig, rng: random.Random,
              stop: threading.Event | None = None) -> _ItemAnswer:
    item_id, title, n = _id(row["item_id"]), clean_field(row["title"]), cfg.n_queries
    messages = build_messages(row, n, cfg.json_instruction, cfg.item_noun)
    cache, key = RecordCache(cfg.resolved_cache_dir()), _cache_key(cfg, item_id, messages)
    cached = cache.get(str(item_id), key, check=_check_cached(n))
    if cached is not None:
        return _ItemAnswer(item_id, cached[0], cached[1], from_cache=True)

    problem, best, retry_after = "", None, None
    tries = cfg.max_retries + 1
    for attempt in range(tries):
        if attempt:
            delay = _delay(cfg, attempt, retry_after, rng)
            if stop is None:
                time.sleep(delay)
            elif stop.wait(delay):
                raise Cancelled()
        retry_after = None
        try:
            content = chat(cfg, messages)
        except Retryable as exc:
            problem, retry_after = str(exc), exc.retry_after
            logger.debug("item %s, try %d/%d: %s", item_id, attempt + 1, tries, problem)
            continue
        except Refused as exc:
            if exc.status in (401, 403, 404):
                raise LLMQueryError(
                    f"{cfg.base_url} refused the request ({exc}); check base_url, model and the API key "
                    f"(${ENV_API_KEY}).", None, str(exc)) from None
            raise LLMQueryError(f"item {item_id}: the server refused the request: {exc}", item_id, str(exc)) from None
        try:
            queries, paraphrases = parse_answer(content)
        except ValueError as exc:
            problem = f"malformed answer: {exc}"
            logger.debug("item %s, try %d/%d: %s", item_id, attempt + 1, tries, problem)
            continue
        q_ok = [q for q in queries if not contains_title(q, title)]
        p_ok = [p for p in paraphrases if not contains_title(p, title)]
        leaked = len(queries) - len(q_ok) + len(paraphrases) - len(p_ok)
        if len(q_ok) >= n and len(p_ok) >= n:
            best = (q_ok[:n], p_ok[:n])
            break
        problem = (f"only {len(q_ok)} queries and {len(p_ok)} paraphrases usable of {n} each "
                   f"({leaked} contained the title {title!r})")
        logger.debug("item %s, try %d/%d: %s", item_id, attempt + 1, tries, problem)
        if q_ok and p_ok and (best is None or min(len(q_ok), len(p_ok)) > min(map(len, best))):
            best = (q_ok[:n], p_ok[:n])
    else:
        if best is None:
            raise LLMQueryError(f"item {item_id} ({title!r}): no usable answer after {tries} tries; "
                                f"last problem: {problem}", item_id, problem)
        logger.warning("item %s (%r): keeping %d queries and %d paraphrases (< %d) after %d tries; "
                       "last problem: %s", item_id, title, len(best[0]), len(best[1]), n, tries, problem)

    record = {"cache_version": _CACHE_VERSION, "item_id": item_id, "model": cfg.model,
              "messages": messages, "queries": best[0], "paraphrases": best[1]}
    cache.put(str(item_id), key, record)
    return _ItemAnswer(item_id, best[0], best[1], from_cache=False)

# ---------------------------------------------------------------------------- many items


def generate_llm_queries(items: pd.DataFrame, cfg: LLMQueryConfig, show_progress: bool = True) -> pd.DataFrame:
    """Ask the LLM for ``cfg.n_queries`` queries and paraphrases per item.

    ``items``: the items table (``item_id``, ``title``; ``year``, ``description``, ``tags``
    and ``genres`` are used when present). Returns a DataFrame with columns
    ``item_id:int64, text:str, split:str``: per item, in item order, its queries
    (``"train"``) then its paraphrases (``"test"``), ``n_queries`` of each unless a warning
    said otherwise. Raises :class:`LLMQueryError` for an item that gets no usable answer
    (unless ``cfg.skip_failed``) and ``ValueError`` when ``base_url`` or ``model`` is unset.
    Answers already in ``cfg.cache_dir`` are reused without a request.
    """
    from tqdm.auto import tqdm

    if not isinstance(cfg, LLMQueryConfig):
        raise TypeError(f"cfg must be an LLMQueryConfig, got {type(cfg).__name__}")
    missing = [c for c in ("item_id", "title") if c not in items.columns]
    if missing:
        raise ValueError(f"items table lacks column(s) {missing}; it has {list(items.columns)}")
    cfg.check_ready()
    if items["item_id"].duplicated().any():
        dup = _id(items.loc[items["item_id"].duplicated(), "item_id"].iloc[0])
        raise ValueError(f"items table repeats item_id {dup}; item ids must be unique")
    rows = items.to_dict("records")
    cache_dir = cfg.resolved_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    logger.info("asking %s (model %s) for queries of %d items, cache %s",
                cfg.base_url, cfg.model, len(rows), cache_dir)

    results: dict[int, _ItemAnswer] = {}
    skipped: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()  # set on the first error that ends the run: start no new item
    seed = random.SystemRandom().randrange(2**31)

    def work(index: int, row: dict[str, Any]) -> _ItemAnswer | None:
        if stop.is_set():
            return None
        rng = random.Random(seed + index)
        try:
            return _ask_item(row, cfg, rng, stop)
        except Cancelled:
            return None
        except LLMQueryError as exc:
            if cfg.skip_failed and exc.item_id is not None:
                logger.warning("skipping %s", exc)
                with lock:
                    skipped.append(_id(row["item_id"]))
                return None
            stop.set()
            raise
        except BaseException:
            stop.set()
            raise

    bar = tqdm(total=len(rows), desc="LLM queries", unit="item", disable=not show_progress)
    pool = ThreadPoolExecutor(max_workers=min(cfg.workers, max(1, len(rows))))
    try:
        pending = {pool.submit(work, i, r) for i, r in enumerate(rows)}
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for fut in done:
                ans = fut.result()  # re-raises the first failure
                if ans is not None:
                    results[ans.item_id] = ans
                bar.update(1)
            bar.set_postfix(cached=sum(a.from_cache for a in results.values()), skipped=len(skipped))
    except BaseException:
        stop.set()  # waiting items start nothing and retrying ones stop at their next pause
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()

    return _queries_table(items, rows, results, skipped, cfg.n_queries)


def _queries_table(items: pd.DataFrame, rows: list[dict[str, Any]], results: dict[Any, _ItemAnswer],
                   skipped: list[Any], n: int) -> pd.DataFrame:
    """The queries table (``item_id, text, split``) in item order, with the run's summary logged."""
    out, short = [], []
    for row in rows:
        ans = results.get(_id(row["item_id"]))
        if ans is None:
            continue
        if len(ans.queries) < n or len(ans.paraphrases) < n:
            short.append(ans.item_id)
        logger.debug("item %s: %d queries, %d paraphrases%s", ans.item_id, len(ans.queries),
                     len(ans.paraphrases), " (cached)" if ans.from_cache else "")
        out += [(ans.item_id, q, "train") for q in ans.queries]
        out += [(ans.item_id, p, "test") for p in ans.paraphrases]
    n_cached = sum(a.from_cache for a in results.values())
    logger.info("LLM queries: %d items (%d from cache, %d asked), %d queries + %d paraphrases each "
                "except %d short item(s) %s; %d item(s) skipped %s",
                len(results), n_cached, len(results) - n_cached, n, n,
                len(short), short[:20], len(skipped), sorted(skipped)[:20])
    df = pd.DataFrame(out, columns=["item_id", "text", "split"])
    if pd.api.types.is_integer_dtype(items["item_id"]):
        df["item_id"] = df["item_id"].astype("int64")
    return df.astype({"text": str, "split": str})
