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
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from semid.data.text import contains_title, normalize, strip_year
from semid.io import atomic_write_text, hash_json

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

#: The paper's prompt, word for word (DESIGN.md step 1). ``[METADATA]`` is replaced by the
#: movie's metadata; nothing else is changed when ``n_queries == 10``.
PAPER_PROMPT = (
    "Your task is to return a list with 10 queries for a given movie (title of the movie, year "
    "and description and tags) After generating the initial set of queries, you should also "
    "generate a list of the same size with paraphrased of the first queries. The paraphrased "
    "queries should be similar to the original queries, but with different words, structure "
    "and slight variations in the meaning. The queries should be realistic things that a user "
    "would ask to find the movie. The queries should be diverse and cover different aspects of "
    "the movie. The queries should not include the title of the movie, but be broader "
    "descriptions of the movie and its content. The queries should also contain broad topics, "
    "themes and genres of the movie. Movie: [METADATA]."
)

#: Our addition (not in the paper): a separate system message that fixes the answer format.
FORMAT_INSTRUCTION = (
    "Answer with a single JSON object and nothing else, of the form "
    '{{"queries": [{n} strings], "paraphrases": [{n} strings]}}, '
    "where paraphrases[i] is a paraphrase of queries[i]."
)

_ENV_BASE_URL = "OPENAI_BASE_URL"
_ENV_API_KEY = "OPENAI_API_KEY"
_ENV_MODEL = "SEMID_LLM_MODEL"
_CACHE_VERSION = 1


class LLMQueryError(RuntimeError):
    """An item got no usable answer (or the endpoint refused the request).

    ``item_id`` is ``None`` for errors that concern the whole run (bad key, model or URL).
    """

    def __init__(self, message: str, item_id: int | str | None = None, problem: str = "") -> None:
        super().__init__(message)
        self.item_id = item_id
        self.problem = problem


@dataclass
class LLMQueryConfig:
    """Settings of the LLM query generator (see the module docstring)."""

    base_url: str | None = field(default=None, metadata={"help": f"OpenAI-compatible API root, e.g. https://api.openai.com/v1 (default: ${_ENV_BASE_URL})"})
    api_key: str | None = field(default=None, repr=False, metadata={"help": f"API key sent as 'Authorization: Bearer'; prefer setting ${_ENV_API_KEY}, which is read at request time and never stored"})
    model: str | None = field(default=None, metadata={"help": f"chat model name (default: ${_ENV_MODEL})"})
    cache_dir: str | None = field(default=None, metadata={"help": "one JSON answer per item is kept here so that runs resume (default: $XDG_CACHE_HOME/semid/llm_queries or ~/.cache/semid/llm_queries)"})
    max_retries: int = field(default=5, metadata={"help": "retries per item after the first request (malformed answers, title leaks, 429/5xx, connection errors)"})
    backoff_base: float = field(default=1.0, metadata={"help": "seconds; the k-th retry waits backoff_base * 2**(k-1) * U(1, 2), capped by backoff_max"})
    backoff_max: float = field(default=60.0, metadata={"help": "longest wait between two tries, seconds (also caps Retry-After)"})
    timeout: float = field(default=120.0, metadata={"help": "HTTP timeout per request, seconds"})
    temperature: float = field(default=0.7, metadata={"help": "sampling temperature sent to the model"})
    n_queries: int = field(default=10, metadata={"help": "queries (train) and paraphrases (test) per item; the paper uses 10, other values change the '10' in its prompt"})
    workers: int = field(default=4, metadata={"help": "items asked concurrently (threads)"})
    json_instruction: bool = field(default=True, metadata={"help": "add a system message asking for JSON output; the paper's prompt is sent unchanged either way"})
    skip_failed: bool = field(default=False, metadata={"help": "log and leave out items that fail after all retries instead of raising"})
    item_noun: str = field(default="movie", metadata={"help": "what the prompt calls an item (the paper's prompt says movie)"})

    def __post_init__(self) -> None:
        if self.base_url is None:
            self.base_url = os.environ.get(_ENV_BASE_URL) or None
        if self.model is None:
            self.model = os.environ.get(_ENV_MODEL) or None
        for name in ("max_retries",):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"LLMQueryConfig.{name} must be an integer >= 0, got {v!r}")
        for name in ("n_queries", "workers"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"LLMQueryConfig.{name} must be an integer >= 1, got {v!r}")
        for name in ("backoff_base", "backoff_max"):
            if not float(getattr(self, name)) >= 0:
                raise ValueError(f"LLMQueryConfig.{name} must be >= 0 seconds, got {getattr(self, name)!r}")
        if not float(self.timeout) > 0:
            raise ValueError(f"LLMQueryConfig.timeout must be > 0 seconds, got {self.timeout!r}")
        if not isinstance(self.item_noun, str) or not self.item_noun.strip() or len(self.item_noun) > 40:
            raise ValueError(f"LLMQueryConfig.item_noun must be a short word such as 'product', got {self.item_noun!r}")
        if not 0.0 <= float(self.temperature) <= 2.0:
            raise ValueError(f"LLMQueryConfig.temperature must lie in [0, 2], got {self.temperature!r}")

    def check_ready(self) -> None:
        """Raise ``ValueError`` naming the option and environment variable that are missing."""
        missing = []
        if not self.base_url:
            missing.append(f"the base_url option (or env {_ENV_BASE_URL}), e.g. https://api.openai.com/v1 or http://localhost:8000/v1")
        if not self.model:
            missing.append(f"the model option (or env {_ENV_MODEL}), e.g. gpt-4o-mini")
        if missing:
            raise ValueError("LLM query generation needs " + " and ".join(missing) + ".")
        if not str(self.base_url).startswith(("http://", "https://")):
            raise ValueError(f"LLMQueryConfig.base_url must start with http:// or https://, got {self.base_url!r}")

    def resolved_cache_dir(self) -> Path:
        if self.cache_dir:
            return Path(self.cache_dir)
        root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return Path(root) / "semid" / "llm_queries"


# ---------------------------------------------------------------------------- prompt


def _clean(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value).strip()


def format_metadata(row: Any) -> str:
    """The text put in place of ``[METADATA]``: title, year, description, tags and genres.

    ``row`` is one row of the items table (mapping or Series); ``tags`` and ``genres``
    are ``|``-separated. Empty fields are left out.
    """
    title = _clean(row.get("title"))
    parts = [f"Title: {strip_year(title) or title}"]
    year = row.get("year")
    if year is not None and not pd.isna(year):
        parts.append(f"Year: {int(year)}")
    desc = _clean(row.get("description")).rstrip(". ")
    if desc:
        parts.append(f"Description: {desc}")
    for key, label in (("tags", "Tags"), ("genres", "Genres")):
        vals = [v.strip() for v in _clean(row.get(key)).split("|") if v.strip()]
        vals = [v for v in vals if v != "(no genres listed)"]
        if vals:
            parts.append(f"{label}: {', '.join(vals)}")
    return ". ".join(parts).rstrip(". ")


def build_messages(row: Any, n_queries: int = 10, json_instruction: bool = True,
                   item_noun: str = "movie") -> list[dict[str, str]]:
    """Chat messages for one item: an optional format system message, then the paper's prompt,
    with ``item_noun`` in place of "movie" (word for word for the default)."""
    prompt = PAPER_PROMPT if n_queries == 10 else PAPER_PROMPT.replace("10 queries", f"{n_queries} queries", 1)
    noun = item_noun.strip().lower()
    if noun != "movie":
        prompt = prompt.replace("Movie:", f"{noun[:1].upper()}{noun[1:]}:").replace("movie", noun)
    messages = [{"role": "user", "content": prompt.replace("[METADATA]", format_metadata(row))}]
    if json_instruction:
        messages.insert(0, {"role": "system", "content": FORMAT_INSTRUCTION.format(n=n_queries)})
    return messages


# ---------------------------------------------------------------------------- parsing

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```[a-zA-Z]*\s*\n?(.*?)```", re.DOTALL)
_ITEM = re.compile(r"^\s*(?:(\d+)\s*[.):]|[-*•])\s+(.+?)\s*$")


def _as_str_list(value: Any) -> list[str] | None:
    if not isinstance(value, list):
        return None
    out = []
    for v in value:
        if isinstance(v, dict) and len(v) == 1:
            v = next(iter(v.values()))
        if not isinstance(v, str):
            return None
        out.append(v)
    return out


def _from_json(obj: Any) -> tuple[list[str], list[str]] | None:
    if isinstance(obj, dict):
        keys = {k.lower(): k for k in obj if isinstance(k, str)}
        pk = next((keys[k] for k in keys if "paraphras" in k), None)
        qk = next((keys[k] for k in keys if "quer" in k and "paraphras" not in k), None)
        if qk is None or pk is None:
            return None
        q, p = _as_str_list(obj[qk]), _as_str_list(obj[pk])
        return (q, p) if q is not None and p is not None else None
    if isinstance(obj, list) and len(obj) == 2:
        q, p = _as_str_list(obj[0]), _as_str_list(obj[1])
        return (q, p) if q is not None and p is not None else None
    return None


def _from_lists(text: str) -> tuple[list[str], list[str]] | None:
    blocks: list[list[str]] = []
    current: list[str] = []
    last_num = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        m = _ITEM.match(line)
        if m is None:  # a heading or prose ends the current list
            if current:
                blocks.append(current)
            current, last_num = [], 0
            continue
        num = int(m.group(1)) if m.group(1) else None
        if num is not None and current and num <= last_num:  # numbering restarts: new list
            blocks.append(current)
            current = []
        last_num = num if num is not None else last_num + 1
        current.append(m.group(2))
    if current:
        blocks.append(current)
    blocks = [b for b in blocks if len(b) >= 2]
    if len(blocks) == 2:
        return blocks[0], blocks[1]
    return None


def _strip_item(text: str) -> str:
    text = text.strip()
    text = re.sub(r"^\*\*(.*)\*\*$", r"\1", text)
    text = re.sub(r"^\d{1,2}[.)]\s+", "", text)  # "3. query" inside a JSON list
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1]
    return text.strip().strip("“”").strip()


def parse_answer(content: str) -> tuple[list[str], list[str]]:
    """Split a model answer into ``(queries, paraphrases)``.

    Accepts a JSON object with a ``queries`` key and a ``paraphrases`` key (also inside a
    Markdown code fence or surrounded by prose), a JSON list of two lists, or two
    numbered/bulleted lists. Raises ``ValueError`` for anything else. Items are stripped
    of quotes and bold markers; empty items and exact duplicates are dropped.
    """
    if not isinstance(content, str) or not content.strip():
        raise ValueError("empty answer")
    content = _THINK.sub("", content)  # reasoning models may think aloud first
    candidates = [m.group(1) for m in _FENCE.finditer(content)] + [content]
    s, e = content.find("{"), content.rfind("}")
    if 0 <= s < e:
        candidates.append(content[s : e + 1])
    found = None
    for cand in candidates:
        try:
            found = _from_json(json.loads(cand))
        except (json.JSONDecodeError, ValueError):
            found = None
        if found is not None:
            break
    if found is None:
        found = _from_lists(content)
    if found is None:
        head = content.strip().replace("\n", " ")[:120]
        raise ValueError(f"neither JSON with 'queries' and 'paraphrases' nor two lists: {head!r}")

    def clean(items: list[str]) -> list[str]:
        out, seen = [], set()
        for it in items:
            t = _strip_item(it)
            key = normalize(t)
            if key and key not in seen:
                seen.add(key)
                out.append(t)
        return out

    queries, paraphrases = clean(found[0]), clean(found[1])
    if not queries or not paraphrases:
        raise ValueError(f"answer has {len(queries)} queries and {len(paraphrases)} paraphrases")
    return queries, paraphrases


# ---------------------------------------------------------------------------- HTTP


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _Cancelled(Exception):
    """The run is ending (another item failed, or an interrupt): stop retrying."""


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


def _server_message(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
        err = data.get("error", data) if isinstance(data, dict) else data
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
    except (json.JSONDecodeError, AttributeError):
        pass
    return text[:500] or "(empty body)"


def _chat(cfg: LLMQueryConfig, messages: list[dict[str, str]]) -> str:
    """POST one chat request; return the message content. Raises _Retryable or _Refused."""
    url = str(cfg.base_url).rstrip("/") + "/chat/completions"
    body = json.dumps({"model": cfg.model, "messages": messages, "temperature": cfg.temperature}).encode("utf-8")
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    key = cfg.api_key or os.environ.get(_ENV_API_KEY)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=cfg.timeout) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as exc:
        msg = _server_message(exc.read() or b"")
        if exc.code == 429 or exc.code >= 500:
            retry_after = None
            try:
                retry_after = float(exc.headers.get("Retry-After", ""))
            except (TypeError, ValueError):
                pass
            raise _Retryable(f"HTTP {exc.code}: {msg}", retry_after) from None
        raise _Refused(exc.code, msg) from None
    except (urllib.error.URLError, HTTPException, OSError) as exc:  # includes timeouts
        raise _Retryable(f"cannot reach {url}: {getattr(exc, 'reason', exc)}") from None
    try:
        data = json.loads(raw)
        content = data["choices"][0]["message"]["content"]
    except (json.JSONDecodeError, KeyError, IndexError, TypeError):
        raise _Retryable(f"malformed response body (no choices[0].message.content): {raw[:200]!r}") from None
    if not isinstance(content, str):
        raise _Retryable(f"malformed response: message content is {type(content).__name__}, not text")
    return content


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


def _cache_path(cfg: LLMQueryConfig, item_id: int | str, messages: list[dict[str, str]]) -> Path:
    key = hash_json({"model": cfg.model, "messages": messages, "item_id": item_id}, length=16)
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", str(item_id))[:60]  # string ids may hold path characters
    return cfg.resolved_cache_dir() / f"{stem}-{key}.json"


def _read_cache(path: Path, n: int) -> tuple[list[str], list[str]] | None:
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        q, p = data["queries"], data["paraphrases"]
        if _as_str_list(q) is None or _as_str_list(p) is None or not q or not p:
            raise ValueError("empty or non-text lists")
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        logger.warning("ignoring unreadable cache file %s (%s); asking again", path, exc)
        return None
    return q[:n], p[:n]


def _delay(cfg: LLMQueryConfig, retry: int, retry_after: float | None, rng: random.Random) -> float:
    d = cfg.backoff_base * (2 ** (retry - 1)) * (1.0 + rng.random())
    if retry_after is not None and retry_after > d:
        d = retry_after
    return min(d, cfg.backoff_max)


def _ask_item(row: Any, cfg: LLMQueryConfig, rng: random.Random,
              stop: threading.Event | None = None) -> _ItemAnswer:
    item_id, title, n = _id(row["item_id"]), _clean(row["title"]), cfg.n_queries
    messages = build_messages(row, n, cfg.json_instruction, cfg.item_noun)
    path = _cache_path(cfg, item_id, messages)
    cached = _read_cache(path, n)
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
                raise _Cancelled()
        retry_after = None
        try:
            content = _chat(cfg, messages)
        except _Retryable as exc:
            problem, retry_after = str(exc), exc.retry_after
            logger.debug("item %s, try %d/%d: %s", item_id, attempt + 1, tries, problem)
            continue
        except _Refused as exc:
            if exc.status in (401, 403, 404):
                raise LLMQueryError(
                    f"{cfg.base_url} refused the request ({exc}); check base_url, model and the API key "
                    f"(${_ENV_API_KEY}).", None, str(exc)) from None
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
        logger.warning("item %d (%r): keeping %d queries and %d paraphrases (< %d) after %d tries; "
                       "last problem: %s", item_id, title, len(best[0]), len(best[1]), n, tries, problem)

    record = {"cache_version": _CACHE_VERSION, "item_id": item_id, "model": cfg.model,
              "messages": messages, "queries": best[0], "paraphrases": best[1]}
    atomic_write_text(path, json.dumps(record, indent=1, ensure_ascii=False) + "\n")
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
        except _Cancelled:
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

    out, short = [], []
    for row in rows:
        ans = results.get(_id(row["item_id"]))
        if ans is None:
            continue
        if len(ans.queries) < cfg.n_queries or len(ans.paraphrases) < cfg.n_queries:
            short.append(ans.item_id)
        logger.debug("item %s: %d queries, %d paraphrases%s", ans.item_id, len(ans.queries),
                     len(ans.paraphrases), " (cached)" if ans.from_cache else "")
        out += [(ans.item_id, q, "train") for q in ans.queries]
        out += [(ans.item_id, p, "test") for p in ans.paraphrases]
    n_cached = sum(a.from_cache for a in results.values())
    logger.info("LLM queries: %d items (%d from cache, %d asked), %d queries + %d paraphrases each "
                "except %d short item(s) %s; %d item(s) skipped %s",
                len(results), n_cached, len(results) - n_cached, cfg.n_queries, cfg.n_queries,
                len(short), short[:20], len(skipped), sorted(skipped)[:20])
    df = pd.DataFrame(out, columns=["item_id", "text", "split"])
    if pd.api.types.is_integer_dtype(items["item_id"]):
        df["item_id"] = df["item_id"].astype("int64")
    return df.astype({"text": str, "split": str})
