"""The LLM query prompt: the paper's words, the item's metadata, the chat messages."""

from __future__ import annotations

from typing import Any

import pandas as pd

from semid.data.text import strip_year

__all__ = ["PAPER_PROMPT", "FORMAT_INSTRUCTION", "format_metadata", "build_messages", "clean_field"]

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

def clean_field(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value).strip()


def format_metadata(row: Any) -> str:
    """The text put in place of ``[METADATA]``: title, year, description, tags and genres.

    ``row`` is one row of the items table (mapping or Series); ``tags`` and ``genres``
    are ``|``-separated. Empty fields are left out.
    """
    title = clean_field(row.get("title"))
    parts = [f"Title: {strip_year(title) or title}"]
    year = row.get("year")
    if year is not None and not pd.isna(year):
        parts.append(f"Year: {int(year)}")
    desc = clean_field(row.get("description")).rstrip(". ")
    if desc:
        parts.append(f"Description: {desc}")
    for key, label in (("tags", "Tags"), ("genres", "Genres")):
        vals = [v.strip() for v in clean_field(row.get(key)).split("|") if v.strip()]
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
