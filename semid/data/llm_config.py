"""Settings and the error type of the LLM query generator (:mod:`semid.data.llm_queries`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["LLMQueryConfig", "LLMQueryError", "ENV_BASE_URL", "ENV_API_KEY", "ENV_MODEL"]

ENV_BASE_URL = "OPENAI_BASE_URL"
ENV_API_KEY = "OPENAI_API_KEY"
ENV_MODEL = "SEMID_LLM_MODEL"


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

    base_url: str | None = field(default=None, metadata={"help": f"OpenAI-compatible API root, e.g. https://api.openai.com/v1 (default: ${ENV_BASE_URL})"})
    api_key: str | None = field(default=None, repr=False, metadata={"help": f"API key sent as 'Authorization: Bearer'; prefer setting ${ENV_API_KEY}, which is read at request time and never stored"})
    model: str | None = field(default=None, metadata={"help": f"chat model name (default: ${ENV_MODEL})"})
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
            self.base_url = os.environ.get(ENV_BASE_URL) or None
        if self.model is None:
            self.model = os.environ.get(ENV_MODEL) or None
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
            missing.append(f"the base_url option (or env {ENV_BASE_URL}), e.g. https://api.openai.com/v1 or http://localhost:8000/v1")
        if not self.model:
            missing.append(f"the model option (or env {ENV_MODEL}), e.g. gpt-4o-mini")
        if missing:
            raise ValueError("LLM query generation needs " + " and ".join(missing) + ".")
        if not str(self.base_url).startswith(("http://", "https://")):
            raise ValueError(f"LLMQueryConfig.base_url must start with http:// or https://, got {self.base_url!r}")

    def resolved_cache_dir(self) -> Path:
        if self.cache_dir:
            return Path(self.cache_dir)
        root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return Path(root) / "semid" / "llm_queries"
