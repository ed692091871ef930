"""Parsing an LLM's answer into queries and paraphrases (JSON, fenced JSON or two lists)."""

from __future__ import annotations

import json
import re
from typing import Any

from semid.data.text import normalize

__all__ = ["parse_answer", "as_str_list"]

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```[a-zA-Z]*\s*\n?(.*?)```", re.DOTALL)
_ITEM = re.compile(r"^\s*(?:(\d+)\s*[.):]|[-*•])\s+(.+?)\s*$")


def as_str_list(value: Any) -> list[str] | None:
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
        q, p = as_str_list(obj[qk]), as_str_list(obj[pk])
        return (q, p) if q is not None and p is not None else None
    if isinstance(obj, list) and len(obj) == 2:
        q, p = as_str_list(obj[0]), as_str_list(obj[1])
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
