"""One chat request to an OpenAI-compatible endpoint, with the standard library only.

:func:`chat` raises :class:`Retryable` for what is worth asking again (HTTP 429/5xx,
timeouts, connection errors, malformed bodies) and :class:`Refused` for other HTTP errors;
retrying, backoff and caching are the caller's (:mod:`semid.data.llm_queries`).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from http.client import HTTPException

from semid.data.llm_config import ENV_API_KEY, LLMQueryConfig

__all__ = ["chat", "Retryable", "Refused", "Cancelled"]


class Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Cancelled(Exception):
    """The run is ending (another item failed, or an interrupt): stop retrying."""


class Refused(Exception):
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


def chat(cfg: LLMQueryConfig, messages: list[dict[str, str]]) -> str:
    """POST one chat request; return the message content. Raises Retryable or Refused."""
    url = str(cfg.base_url).rstrip("/") + "/chat/completions"
    body = json.dumps({"model": cfg.model, "messages": messages, "temperature": cfg.temperature}).encode("utf-8")
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    key = cfg.api_key or os.environ.get(ENV_API_KEY)
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
            raise Retryable(f"HTTP {exc.code}: {msg}", retry_after) from None
        raise Refused(exc.code, msg) from None
    except (urllib.error.URLError, HTTPException, OSError) as exc:  # includes timeouts
        raise Retryable(f"cannot reach {url}: {getattr(exc, 'reason', exc)}") from None
    try:
        data = json.loads(raw)
        content = data["choices"][0]["message"]["content"]
    except (json.JSONDecodeError, KeyError, IndexError, TypeError):
        raise Retryable(f"malformed response body (no choices[0].message.content): {raw[:200]!r}") from None
    if not isinstance(content, str):
        raise Retryable(f"malformed response: message content is {type(content).__name__}, not text")
    return content
