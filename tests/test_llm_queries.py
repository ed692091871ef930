"""The LLM query generator against a fake OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from semid.data.llm_queries import (
    PAPER_PROMPT,
    LLMQueryConfig,
    LLMQueryError,
    generate_llm_queries,
    parse_answer,
)
from semid.data.text import contains_title

# (status, payload, headers); payload is a str (sent as the message content when status is
# 200) or bytes (sent as the raw body).
Reply = tuple[int, Any, dict[str, str]]


class FakeLLM:
    """An OpenAI-compatible ``/v1/chat/completions`` endpoint driven by ``responder``.

    ``responder(request_json, index)`` returns a :data:`Reply`; ``index`` counts requests.
    """

    def __init__(self, responder: Callable[[dict, int], Reply]) -> None:
        self.responder = responder
        self.requests: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake.lock:
                    index = len(fake.requests)
                    fake.requests.append(body)
                    fake.headers.append(dict(self.headers))
                    fake.paths.append(self.path)
                status, payload, headers = fake.responder(body, index)
                if isinstance(payload, bytes):
                    raw = payload
                elif status == 200:
                    raw = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": payload}}]}).encode()
                else:
                    raw = json.dumps({"error": {"message": payload, "type": "invalid_request_error"}}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def serve():
    servers: list[FakeLLM] = []

    def start(responder: Callable[[dict, int], Reply]) -> FakeLLM:
        s = FakeLLM(responder)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.close()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for var in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "SEMID_LLM_MODEL", "http_proxy", "HTTP_PROXY",
                "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


def make_items(n: int = 3) -> pd.DataFrame:
    return pd.DataFrame({
        "item_id": [10 + i for i in range(n)],
        "title": [f"Gizmo Saga {chr(65 + i)} ({1990 + i})" for i in range(n)],
        "year": pd.array([1990 + i for i in range(n)], dtype="Int64"),
        "genres": ["Comedy|Drama"] * n,
        "tags": ["robots|friendship"] * n,
        "description": [f"a robot learns to dance, part {i}" for i in range(n)],
    })


def title_of(req: dict) -> str:
    return re.search(r"Title: ([^.]+)\.", req["messages"][-1]["content"]).group(1)


def answer(req: dict, n: int = 10, leak: int = 0, tag: str = "") -> str:
    """A JSON answer; the first ``leak`` queries and paraphrases name the movie."""
    t = title_of(req)
    qs = [f"{t} trailer {i}" if i < leak else f"robot comedy {tag}number {i}" for i in range(n)]
    ps = [f"where can I watch {t} {i}" if i < leak else f"film about a dancing machine {tag}{i}" for i in range(n)]
    return json.dumps({"queries": qs, "paraphrases": ps})


def good(req: dict, i: int) -> Reply:
    return 200, answer(req), {}


def cfg_for(server: FakeLLM, tmp_path: Path, **kw: Any) -> LLMQueryConfig:
    base = dict(base_url=server.url, model="fake-model", api_key="sk-test", cache_dir=str(tmp_path / "cache"),
                backoff_base=0.01, backoff_max=0.05, max_retries=3, timeout=5.0, workers=2)
    base.update(kw)
    return LLMQueryConfig(**base)


# ---------------------------------------------------------------------------- good path


def test_good_answers_give_ten_train_and_ten_test_queries_per_item_in_item_order(serve, tmp_path):
    server = serve(good)
    items = make_items(3)
    df = generate_llm_queries(items, cfg_for(server, tmp_path, temperature=0.3), show_progress=False)
    assert list(df.columns) == ["item_id", "text", "split"]
    assert df["item_id"].dtype == "int64"
    assert df["item_id"].drop_duplicates().tolist() == [10, 11, 12]
    counts = df.groupby(["item_id", "split"]).size()
    assert (counts == 10).all() and len(counts) == 6
    first = df[df["item_id"] == 10]
    assert first["text"].tolist()[:2] == ["robot comedy number 0", "robot comedy number 1"]
    assert first["split"].tolist() == ["train"] * 10 + ["test"] * 10
    assert len(server.requests) == 3
    req = server.requests[0]
    assert server.paths[0] == "/v1/chat/completions"
    assert req["model"] == "fake-model" and req["temperature"] == 0.3
    assert server.headers[0]["Authorization"] == "Bearer sk-test"


def test_user_message_is_the_papers_prompt_verbatim_with_metadata(serve, tmp_path):
    server = serve(good)
    generate_llm_queries(make_items(1), cfg_for(server, tmp_path), show_progress=False)
    msgs = server.requests[0]["messages"]
    assert msgs[0]["role"] == "system" and "JSON" in msgs[0]["content"]
    user = msgs[-1]
    assert user["role"] == "user"
    head, tail = PAPER_PROMPT.split("[METADATA]")
    assert user["content"].startswith(head) and user["content"].endswith(tail)
    meta = user["content"][len(head): len(user["content"]) - len(tail)]
    for part in ("Gizmo Saga A", "1990", "a robot learns to dance, part 0", "robots, friendship", "Comedy"):
        assert part in meta
    assert PAPER_PROMPT.startswith("Your task is to return a list with 10 queries for a given movie")
    assert PAPER_PROMPT.endswith("themes and genres of the movie. Movie: [METADATA].")


def test_numbered_list_answers_are_accepted(serve, tmp_path):
    def lists(req, i):
        q = "\n".join(f"{k + 1}. robot comedy {k}" for k in range(10))
        p = "\n".join(f"{k + 1}) dancing machine film {k}" for k in range(10))
        return 200, f"Queries:\n{q}\n\nParaphrased queries:\n{p}\n", {}

    server = serve(lists)
    df = generate_llm_queries(make_items(1), cfg_for(server, tmp_path), show_progress=False)
    assert df[df["split"] == "test"]["text"].tolist()[0] == "dancing machine film 0"
    assert len(df) == 20 and len(server.requests) == 1


# ---------------------------------------------------------------------------- retries


def test_malformed_answer_then_good_is_retried(serve, tmp_path):
    def responder(req, i):
        if i == 0:
            return 200, "Sure! Here are some ideas: robots, dancing, comedy.", {}
        if i == 1:
            return 200, b"<html>not json</html>", {}
        return good(req, i)

    server = serve(responder)
    df = generate_llm_queries(make_items(1), cfg_for(server, tmp_path), show_progress=False)
    assert len(server.requests) == 3 and len(df) == 20


@pytest.mark.parametrize("status", [500, 503, 429])
def test_server_error_or_rate_limit_then_good_is_retried(serve, tmp_path, status):
    def responder(req, i):
        return (status, "busy", {"Retry-After": "0"}) if i == 0 else good(req, i)

    server = serve(responder)
    df = generate_llm_queries(make_items(1), cfg_for(server, tmp_path), show_progress=False)
    assert len(server.requests) == 2 and len(df) == 20


def test_timeout_then_good_is_retried(serve, tmp_path):
    import time

    def responder(req, i):
        if i == 0:
            time.sleep(0.4)  # longer than the client's timeout
        return good(req, i)

    server = serve(responder)
    df = generate_llm_queries(make_items(1), cfg_for(server, tmp_path, timeout=0.1), show_progress=False)
    assert len(server.requests) == 2 and len(df) == 20


def test_a_fatal_item_stops_other_items_from_retrying(serve, tmp_path):
    def responder(req, i):
        return (400, "bad item", {}) if "Saga A" in title_of(req) else (503, "busy", {})

    server = serve(responder)
    cfg = cfg_for(server, tmp_path, workers=2, max_retries=50, backoff_base=0.05, backoff_max=0.05)
    with pytest.raises(LLMQueryError, match="item 10"):
        generate_llm_queries(make_items(4), cfg, show_progress=False)
    assert len(server.requests) < 10  # item 11 gave up at its next pause; 12 and 13 never started
    assert not any(title_of(r).endswith(("C", "D")) for r in server.requests)


def test_persistent_400_fails_at_once_with_the_servers_message(serve, tmp_path):
    server = serve(lambda req, i: (400, "context length exceeded", {}))
    with pytest.raises(LLMQueryError, match=r"item 10.*context length exceeded") as info:
        generate_llm_queries(make_items(1), cfg_for(server, tmp_path), show_progress=False)
    assert info.value.item_id == 10
    assert len(server.requests) == 1  # not retried


def test_persistent_malformed_answers_fail_naming_item_and_problem(serve, tmp_path):
    server = serve(lambda req, i: (200, "I cannot do that.", {}))
    with pytest.raises(LLMQueryError, match=r"item 10 .*4 tries.*malformed answer"):
        generate_llm_queries(make_items(1), cfg_for(server, tmp_path, max_retries=3), show_progress=False)
    assert len(server.requests) == 4


def test_unreachable_server_is_retried_then_fails(tmp_path):
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    cfg = LLMQueryConfig(base_url=f"http://127.0.0.1:{port}/v1", model="m", cache_dir=str(tmp_path),
                         max_retries=1, backoff_base=0.001, timeout=2.0)
    with pytest.raises(LLMQueryError, match=r"item 10 .*2 tries.*cannot reach"):
        generate_llm_queries(make_items(1), cfg, show_progress=False)


def test_auth_error_stops_the_run_even_with_skip_failed(serve, tmp_path):
    server = serve(lambda req, i: (401, "invalid api key", {}))
    with pytest.raises(LLMQueryError, match="invalid api key") as info:
        generate_llm_queries(make_items(4), cfg_for(server, tmp_path, skip_failed=True, workers=1),
                             show_progress=False)
    assert info.value.item_id is None
    assert len(server.requests) == 1


def test_skip_failed_leaves_out_only_the_failing_item(serve, tmp_path):
    def responder(req, i):
        return (400, "content filter", {}) if "Saga B" in title_of(req) else good(req, i)

    server = serve(responder)
    with pytest.raises(LLMQueryError, match="item 11"):
        generate_llm_queries(make_items(3), cfg_for(server, tmp_path), show_progress=False)
    df = generate_llm_queries(make_items(3), cfg_for(server, tmp_path, skip_failed=True), show_progress=False)
    assert sorted(df["item_id"].unique()) == [10, 12]


# ---------------------------------------------------------------------------- title leaks


def test_queries_with_the_title_are_dropped_and_extras_fill_in(serve, tmp_path):
    server = serve(lambda req, i: (200, answer(req, n=13, leak=3), {}))
    items = make_items(2)
    df = generate_llm_queries(items, cfg_for(server, tmp_path), show_progress=False)
    assert len(server.requests) == 2 and len(df) == 40
    for item_id, title in zip(items["item_id"], items["title"], strict=True):
        texts = df.loc[df["item_id"] == item_id, "text"]
        assert not any(contains_title(t, title) for t in texts)


def test_too_few_clean_queries_are_asked_again(serve, tmp_path):
    server = serve(lambda req, i: (200, answer(req, leak=2 if i == 0 else 0), {}))
    df = generate_llm_queries(make_items(1), cfg_for(server, tmp_path), show_progress=False)
    assert len(server.requests) == 2 and len(df) == 20
    assert not df["text"].str.contains("Gizmo Saga").any()


def test_persistent_leaks_keep_the_clean_queries_and_log_the_count(serve, tmp_path, caplog):
    server = serve(lambda req, i: (200, answer(req, leak=2), {}))
    with caplog.at_level(logging.WARNING, logger="semid.data.llm_queries"):
        df = generate_llm_queries(make_items(1), cfg_for(server, tmp_path, max_retries=2), show_progress=False)
    assert len(server.requests) == 3
    assert (df.groupby("split").size() == 8).all()
    assert not df["text"].str.contains("Gizmo Saga").any()
    assert "keeping 8 queries and 8 paraphrases" in caplog.text


def test_answers_that_are_all_title_fail(serve, tmp_path):
    server = serve(lambda req, i: (200, answer(req, leak=10), {}))
    with pytest.raises(LLMQueryError, match=r"item 10 .*contained the title"):
        generate_llm_queries(make_items(1), cfg_for(server, tmp_path, max_retries=1), show_progress=False)


# ---------------------------------------------------------------------------- cache / resume


def test_interrupted_run_resumes_from_cache_without_asking_again(serve, tmp_path):
    items = make_items(6)
    broken = serve(lambda req, i: good(req, i) if i < 3 else (400, "quota exhausted", {}))
    with pytest.raises(LLMQueryError, match="quota exhausted"):
        generate_llm_queries(items, cfg_for(broken, tmp_path, workers=1), show_progress=False)
    assert len(list((tmp_path / "cache").glob("*.json"))) == 3

    healthy = serve(good)
    df = generate_llm_queries(items, cfg_for(healthy, tmp_path, workers=1), show_progress=False)
    assert len(healthy.requests) == 3
    assert sorted(title_of(r) for r in healthy.requests) == ["Gizmo Saga D", "Gizmo Saga E", "Gizmo Saga F"]
    assert df["item_id"].drop_duplicates().tolist() == items["item_id"].tolist()
    assert len(df) == 6 * 20

    again = generate_llm_queries(items, cfg_for(healthy, tmp_path, workers=3), show_progress=False)
    assert len(healthy.requests) == 3  # nothing new asked
    pd.testing.assert_frame_equal(again, df)


def test_cache_is_keyed_by_model(serve, tmp_path):
    server = serve(good)
    generate_llm_queries(make_items(2), cfg_for(server, tmp_path), show_progress=False)
    generate_llm_queries(make_items(2), cfg_for(server, tmp_path, model="other-model"), show_progress=False)
    assert len(server.requests) == 4


# ---------------------------------------------------------------------------- config


def test_missing_base_url_or_model_names_option_and_env_var(tmp_path):
    with pytest.raises(ValueError, match=r"base_url.*OPENAI_BASE_URL.*model.*SEMID_LLM_MODEL"):
        generate_llm_queries(make_items(1), LLMQueryConfig(cache_dir=str(tmp_path)), show_progress=False)
    with pytest.raises(ValueError, match="SEMID_LLM_MODEL") as info:
        generate_llm_queries(make_items(1), LLMQueryConfig(base_url="http://x/v1", cache_dir=str(tmp_path)),
                             show_progress=False)
    assert "OPENAI_BASE_URL" not in str(info.value)


def test_settings_come_from_the_environment(serve, tmp_path, monkeypatch):
    server = serve(good)
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("SEMID_LLM_MODEL", "env-model")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    cfg = LLMQueryConfig(cache_dir=str(tmp_path))
    assert cfg.api_key is None and "sk-env" not in repr(cfg)
    generate_llm_queries(make_items(1), cfg, show_progress=False)
    assert server.requests[0]["model"] == "env-model"
    assert server.headers[0]["Authorization"] == "Bearer sk-env"


@pytest.mark.parametrize("kw", [{"max_retries": -1}, {"workers": 0}, {"n_queries": 0},
                                {"backoff_base": -1.0}, {"timeout": 0.0}, {"temperature": 3.0}])
def test_bad_config_values_are_rejected(kw):
    with pytest.raises(ValueError, match=next(iter(kw))):
        LLMQueryConfig(**kw)


# ---------------------------------------------------------------------------- parsing


def test_parse_answer_accepts_fenced_json_and_bullets_and_rejects_prose():
    fenced = 'Here you go:\n```json\n{"Queries": ["a b", "c d"], "paraphrased_queries": ["e f", "g h"]}\n```'
    assert parse_answer(fenced) == (["a b", "c d"], ["e f", "g h"])
    bullets = "- **one query**\n- \"two query\"\n\nParaphrases:\n* one para\n* two para"
    assert parse_answer(bullets) == (["one query", "two query"], ["one para", "two para"])
    thinking = '<think>maybe {"queries": []}?</think>{"queries": ["1. q a", "2. q b"], "paraphrases": ["p a", "p b"]}'
    assert parse_answer(thinking) == (["q a", "q b"], ["p a", "p b"])
    restart = "1. q one\n2. q two\n1. p one\n2. p two"
    assert parse_answer(restart) == (["q one", "q two"], ["p one", "p two"])
    for bad in ("", "just words", '{"queries": ["a"]}', "1. only\n2. one list", '{"queries": [1, 2], "paraphrases": ["x"]}'):
        with pytest.raises(ValueError):
            parse_answer(bad)
