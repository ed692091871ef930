"""The built-in synthetic world: a small movie catalogue, users and queries, offline.

It stands in for MovieLens (Penha et al., RecSys 2025, DESIGN.md step 1) where no data
may be downloaded, and it is built so that the three signals the paper combines really
disagree:

- **content**: every item belongs to a *content cluster* (a topic) that fixes its main
  genre, its era and the pool its keywords (``tags``) come from; titles are made up from
  word lists that share no word with the metadata;
- **collaboration**: every item also has a latent *taste cluster*. With probability
  ``content_alignment`` it is a fixed function of the content cluster, otherwise it is
  drawn at random, so collaborative neighbours only partly share content. Users belong
  to taste communities and pick items from them by a Zipf popularity;
- **sequence**: inside a taste cluster items form a chain (think sequels and series):
  with probability ``sequential_strength`` a user's next item is one of the next few
  items of the chain after the previous one, which a next-item model can learn;
- **search**: queries come from :func:`semid.data.queries.generate_offline_queries`, so
  they carry the item's keywords, role, place and motif but never its title.

``items`` keep two extra ground-truth columns, ``content_cluster`` and ``taste_cluster``
(int64), for analyses; no stage may rely on them (MovieLens has neither).
"""

from __future__ import annotations

import bisect
import logging
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from semid.config import to_dict
from semid.data.queries import GENRE_SYNONYMS, generate_offline_queries
from semid.data.schema import Dataset
from semid.data.splits import make_dataset

logger = logging.getLogger(__name__)

__all__ = ["SyntheticConfig", "make_synthetic_world", "GENRES", "KEYWORDS"]

GENRES: tuple[str, ...] = (
    "Drama", "Comedy", "Thriller", "Action", "Romance", "Adventure", "Crime", "Sci-Fi", "Horror",
    "Fantasy", "Mystery", "Animation", "Children", "War", "Documentary", "Musical", "Western", "Film-Noir",
)
# Topic keywords (tags). Disjoint from every other word list below.
KEYWORDS: tuple[str, ...] = tuple(dict.fromkeys("""
revenge betrayal friendship redemption heist smuggling espionage corruption ambition grief loyalty survival
exile obsession inheritance kidnapping blackmail forgery conspiracy rebellion immigration addiction jealousy
forgiveness poverty fortune fame politics election scandal divorce marriage adoption orphans siblings twins
rivalry courage guilt innocence trial lawsuit jailbreak escape pursuit assassination bounty ransom hostage
mutiny piracy treasure expedition shipwreck climbing sailing racing boxing wrestling fencing chess poker
gambling baseball football hockey surfing skiing ballet opera jazz blues punk painting sculpture poetry
journalism photography cooking baking farming fishing hunting mining logging ranching trucking aviation
spaceflight robotics cloning genetics plague pandemic zombies vampires werewolves ghosts witches demons
exorcism possession curse dragons wizards elves giants monsters aliens invasion dystopia utopia apocalypse
wasteland teleportation telepathy superpowers mutants cyborgs androids hackers surveillance cybercrime
terrorism sabotage propaganda dictatorship revolution resistance partisans trenches paratroopers tanks
prisoners refugees famine drought flood earthquake volcano tsunami hurricane wildfire blizzard avalanche
sharks crocodiles snakes spiders insects dinosaurs horses dogs cats apes elephants puppets toys dolls clowns
cults monks nuns adolescence childhood graduation prom bullying loneliness depression insanity amnesia
dementia cancer disability blindness deafness mourning funeral suicide murder stalker burglary arson fraud
embezzlement bribery laundering cartel mafia yakuza gangs bikers outlaws duel showdown gunfight cattle
railroad homestead saloon stagecoach seduction infidelity affair courtship matchmaking honeymoon satire
parody slapstick vacation christmas halloween thanksgiving college fraternity office bureaucracy startup
banking advertising fashion modeling television radio filmmaking theater mythology folklore legends knights
castles samurai ninjas gladiators vikings pharaohs pyramids colonialism slavery segregation apartheid
feminism suffrage strike protest activism pollution deforestation archaeology astronomy mathematics
medicine psychiatry hypnosis dreams nightmares identity doppelganger impostor disguise masquerade
""".split()))
_TITLE_ADJ = """Crimson Silent Broken Golden Hollow Distant Burning Frozen Wicked Velvet Iron Scarlet Midnight
Electric Savage Gentle Lonely Restless Hidden Shattered Silver Wandering Endless Bitter Sacred Fading Rising
Falling Final Secret Lost Bright Pale Quiet Lucky Crooked Northern Southern Eastern Tender Brave Cruel
Painted Sleeping Drowned Borrowed Stolen Empty Tangled Faithful Forgotten Amber Cobalt Ivory Obsidian Hungry
Gilded Weeping Howling""".split()
_TITLE_NOUN = """Harbor Horizon Garden Mirror River Kingdom Echo Lantern Shadow Crown Tide Meadow Empire Voyage
Summer Winter Autumn Signal Promise Orchid Citadel Canyon Bridge Valley Compass Feather Ember Thunder Serpent
Falcon Raven Wolf Sparrow Tower Labyrinth Cathedral Paradise Requiem Sonata Ballad Anthem Prophecy Legacy
Covenant Odyssey Parade Highway Station Island Ocean Desert Forest Mountain Storm Star Moon Heart Road Door
Season""".split()
_ROLES = """detective widow smuggler nurse pilot teacher boxer chef priest soldier journalist lawyer thief
sailor farmer musician painter surgeon hacker miner diplomat astronaut jockey magician clockmaker librarian
photographer ranger courier architect bartender waitress janitor nanny accountant mechanic firefighter
lifeguard cabbie butler heiress senator novelist scientist inventor gambler fisherman shepherd""".split()
_PLACES = """lisbon tokyo alaska sahara venice havana siberia mumbai cairo patagonia iceland manhattan marseille
bavaria yukon saigon istanbul kyoto dublin glasgow naples nairobi lagos oslo prague vienna montana texas
louisiana mongolia tibet borneo caribbean andes appalachia himalayas tasmania sicily crete tangier zanzibar
casablanca berlin moscow chicago detroit seattle arctic antarctica outback bayou shanghai seoul bangkok""".split()
_THE_PLACES = {"sahara", "yukon", "caribbean", "andes", "himalayas", "arctic", "outback", "bayou"}
_MOTIFS = """lighthouse violin locket typewriter submarine carousel glacier telescope orchard zeppelin vineyard
casino monastery observatory racetrack skyscraper hourglass mansion farmhouse bunker tunnel cellar attic
greenhouse sawmill brewery bakery laundromat diner motel hospital asylum orphanage courthouse embassy
newsroom nightclub arcade aquarium zoo museum cemetery chapel lagoon swamp quarry dam reservoir freighter
tugboat ferry caravan trailer limousine motorcycle bicycle tractor helicopter biplane satellite meteor
comet crystal diamond sapphire pearl necklace manuscript diary photograph umbrella mask scarecrow snowman
parrot stallion goldfish owl tiger whale octopus jellyfish beehive piano trumpet saxophone accordion
harmonica dagger crossbow cannon dynamite briefcase suitcase envelope ledger passport lottery""".split()
_DESC_FIRST = (
    "A {gadj} tale of {k1} and {k2}, set in {place}.",
    "In {place}, a {role} is drawn into {k1} and {k2}.",
    "A {role} from {place} faces {k1}, {k2} and a {motif}.",
    "The story of a {role} whose {motif} leads to {k1} in {place}.",
    "A {gadj} story: a {role}, a {motif} and {k1} in {place}.",
)
_DESC_SECOND = ("Themes include {k3} and {k2}.", "Expect {k3} and plenty of {k1}.", "Along the way: {k3} and a {motif}.")


_AN = re.compile(r"\b([Aa]) (?=[aeiouAEIOU])")


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass
class SyntheticConfig:
    """Size and structure of the synthetic world (see the module docstring)."""

    n_items: int = field(default=500, metadata=_help("catalogue size"))
    n_users: int = field(default=300, metadata=_help("number of users (all have enough history to be kept)"))
    n_genres: int = field(default=10, metadata=_help(f"genres in use, 1..{len(GENRES)} (MovieLens names)"))
    n_topics: int = field(default=20, metadata=_help("content clusters: each fixes a main genre, an era and a keyword pool"))
    keywords_per_topic: int = field(default=10, metadata=_help("keyword pool size per topic; n_topics * this <= len(KEYWORDS)"))
    n_tastes: int = field(default=20, metadata=_help("collaborative taste clusters (user communities)"))
    min_interactions: int = field(default=20, metadata=_help("fewest interactions per user"))
    max_interactions: int = field(default=40, metadata=_help("most interactions per user (<= n_items)"))
    content_alignment: float = field(default=0.5, metadata=_help(
        "probability that an item's taste cluster is a function of its content cluster (else random); 0..1"))
    popularity_skew: float = field(default=1.0, metadata=_help("Zipf exponent of item popularity; 0 = uniform"))
    sequential_strength: float = field(default=0.5, metadata=_help(
        "probability that the next item follows the previous one in its taste cluster's chain; 0..1"))
    community_focus: float = field(default=0.85, metadata=_help(
        "probability that a non-chain pick comes from the user's own communities (else anywhere); 0..1"))
    seed: int = field(default=0, metadata=_help("random seed: the same config gives the same dataset"))
    n_train_queries: int = field(default=10, metadata=_help("training queries per item"))
    n_test_queries: int = field(default=10, metadata=_help("test queries per item"))
    min_history: int = field(default=5, metadata=_help("minimum training interactions per kept user"))
    head_fraction: float = field(default=0.01, metadata=_help("share of items marked head (most popular)"))

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> ValueError:
            return ValueError(f"SyntheticConfig.{name}={getattr(self, name)!r}: {why}")

        for name in ("n_items", "n_users", "n_genres", "n_topics", "keywords_per_topic", "n_tastes",
                     "min_interactions", "max_interactions", "seed", "n_train_queries", "n_test_queries",
                     "min_history"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer):
                raise bad(name, "must be an integer")
            low = 0 if name in ("seed", "n_train_queries", "n_test_queries") else 1
            if v < low:
                raise bad(name, f"must be >= {low}")
        for name in ("content_alignment", "sequential_strength", "community_focus", "popularity_skew",
                     "head_fraction"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v):
                raise bad(name, "must be a finite number")
            hi = np.inf if name == "popularity_skew" else 1.0
            if not 0 <= v <= hi or (name == "head_fraction" and not 0 < v < 1):
                raise bad(name, "must lie in (0, 1)" if name == "head_fraction" else f"must lie in [0, {hi}]")
        if self.n_genres > len(GENRES):
            raise bad("n_genres", f"at most {len(GENRES)} genres exist")
        if self.n_topics * self.keywords_per_topic > len(KEYWORDS):
            raise bad("keywords_per_topic", f"n_topics * keywords_per_topic = {self.n_topics * self.keywords_per_topic} "
                      f"exceeds the {len(KEYWORDS)} keywords available; lower n_topics or keywords_per_topic")
        if self.keywords_per_topic < 3:
            raise bad("keywords_per_topic", "must be >= 3 (each item draws 3 to 4 topic keywords)")
        if self.n_items < max(self.n_topics, self.n_tastes):
            raise bad("n_items", f"must be >= n_topics ({self.n_topics}) and n_tastes ({self.n_tastes})")
        if self.max_interactions < self.min_interactions:
            raise bad("max_interactions", f"must be >= min_interactions ({self.min_interactions})")
        if self.max_interactions > self.n_items:
            raise bad("max_interactions", f"must be <= n_items ({self.n_items}): users never repeat an item")
        if self.min_interactions < self.min_history + 2:
            raise bad("min_interactions", f"must be >= min_history + 2 ({self.min_history + 2}) so that every "
                      f"user keeps a history plus a validation and a test item")
        if self.n_train_queries + self.n_test_queries == 0:
            raise bad("n_train_queries", "n_train_queries + n_test_queries must be >= 1")


def _titles(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` unique made-up titles: 'Crimson Harbor', 'Raven of the Tide', 'Moon and Ember', then sequels."""
    na, nn = len(_TITLE_ADJ), len(_TITLE_NOUN)
    out: list[str] = []
    for p in rng.permutation(na * nn + 2 * nn * nn).tolist():
        if len(out) == n:
            break
        if p < na * nn:
            out.append(f"{_TITLE_ADJ[p // nn]} {_TITLE_NOUN[p % nn]}")
            continue
        q = (p - na * nn) % (nn * nn)
        if q // nn != q % nn:
            a, b = _TITLE_NOUN[q // nn], _TITLE_NOUN[q % nn]
            out.append(f"{a} of the {b}" if p < na * nn + nn * nn else f"{a} and {b}")
    base = len(out)
    k = 2
    while len(out) < n:  # sequels once the word lists run out
        out.extend(f"{t} {k}" for t in out[: min(base, n - len(out))])
        k += 1
    return out


def _catalogue(cfg: SyntheticConfig, rng: np.random.Generator) -> pd.DataFrame:
    n = cfg.n_items
    genres = [GENRES[i] for i in rng.permutation(len(GENRES))[: cfg.n_genres]]
    kw_perm = rng.permutation(len(KEYWORDS))[: cfg.n_topics * cfg.keywords_per_topic]
    topic_kw = [[KEYWORDS[j] for j in kw_perm[t * cfg.keywords_per_topic:(t + 1) * cfg.keywords_per_topic]]
                for t in range(cfg.n_topics)]
    topic_genre = rng.permutation(np.arange(cfg.n_topics) % cfg.n_genres)
    topic_year = rng.uniform(1950, 2015, cfg.n_topics)
    topic = rng.permutation(np.arange(n) % cfg.n_topics)
    # taste = f(topic) with probability content_alignment, else random
    f = rng.permutation(max(cfg.n_topics, cfg.n_tastes))[: cfg.n_topics] % cfg.n_tastes
    aligned = rng.random(n) < cfg.content_alignment
    taste = np.where(aligned, f[topic], rng.integers(0, cfg.n_tastes, n))
    years = np.clip(np.rint(topic_year[topic] + rng.normal(0, 7, n)), 1925, 2023).astype(np.int64)
    rows = []
    for i, (t, title) in enumerate(zip(topic.tolist(), _titles(n, rng), strict=True)):
        g = [genres[topic_genre[t]]]
        if cfg.n_genres > 1 and rng.random() < 0.35:
            g.append(genres[(topic_genre[t] + 1 + rng.integers(cfg.n_genres - 1)) % cfg.n_genres])
        kws = [topic_kw[t][j] for j in rng.permutation(cfg.keywords_per_topic)[: 3 + int(rng.random() < 0.5)]]
        role, place, motif = (str(rng.choice(x)) for x in (_ROLES, _PLACES, _MOTIFS))
        gadj = str(rng.choice(GENRE_SYNONYMS[g[0].lower()]))
        place = ("the " if place in _THE_PLACES else "") + place.capitalize()
        slots = {"gadj": gadj, "role": role, "place": place, "motif": motif,
                 "k1": kws[0], "k2": kws[1], "k3": kws[2]}
        desc = str(rng.choice(_DESC_FIRST)).format(**slots)
        if rng.random() < 0.7:
            desc += " " + str(rng.choice(_DESC_SECOND)).format(**slots)
        desc = _AN.sub(r"\1n ", desc[0].upper() + desc[1:])
        tags = kws + [motif]
        text = f"{title} ({years[i]}). Genres: {', '.join(g)}. Tags: {', '.join(tags)}. {desc}"
        rows.append((i + 1, title, int(years[i]), "|".join(g), "|".join(tags), desc, text))
    items = pd.DataFrame(rows, columns=["item_id", "title", "year", "genres", "tags", "description", "text"])
    items["year"] = items["year"].astype("Int64")
    items["content_cluster"] = topic.astype(np.int64)
    items["taste_cluster"] = taste.astype(np.int64)
    return items


class _Sampler:
    """Popularity-weighted draws from a fixed pool, skipping items already seen."""

    def __init__(self, pool: np.ndarray, weights: np.ndarray):
        self.pool = pool.tolist()
        self.cdf = np.cumsum(weights[pool]).tolist()

    def draw(self, u: float, seen: set[int]) -> int | None:
        total = self.cdf[-1]
        for k in range(16):
            j = min(bisect.bisect_right(self.cdf, ((u + 0.6180339887 * k) % 1.0) * total), len(self.pool) - 1)
            if self.pool[j] not in seen:
                return self.pool[j]
        return next((p for p in self.pool if p not in seen), None)


def _interactions(cfg: SyntheticConfig, items: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    n = cfg.n_items
    taste = items["taste_cluster"].to_numpy()
    popularity = 1.0 / np.power(1.0 + rng.permutation(n), cfg.popularity_skew)
    members = [np.flatnonzero(taste == c) for c in range(cfg.n_tastes)]
    clusters = [_Sampler(m, popularity) if len(m) else None for m in members]
    everything = _Sampler(np.arange(n), popularity)
    chain_pos = np.zeros(n, dtype=np.int64)
    chains = []
    for m in members:
        order = rng.permutation(m)
        chains.append(order.tolist())
        chain_pos[order] = np.arange(len(order))
    offsets_p = np.array([0.6, 0.3, 0.1])
    ids = items["item_id"].to_numpy()
    ratings = np.array([3.0, 3.5, 4.0, 4.5, 5.0], dtype=np.float32)
    out_u, out_i, out_t, out_r = [], [], [], []
    for u in range(cfg.n_users):
        length = int(rng.integers(cfg.min_interactions, cfg.max_interactions + 1))
        primary, secondary = (int(x) for x in rng.integers(0, cfg.n_tastes, 2))
        unif = rng.random((length, 4)).tolist()
        first_offset = rng.choice(3, size=length, p=offsets_p).tolist()
        seen: set[int] = set()
        seq: list[int] = []
        for step in range(length):
            r_seq, r_src, r_comm, r_draw = unif[step]
            item = None
            if seq and r_seq < cfg.sequential_strength:
                prev = seq[-1]
                chain = chains[taste[prev]]
                for off in range(first_offset[step] + 1, 6):
                    cand = chain[(chain_pos[prev] + off) % len(chain)]
                    if cand not in seen:
                        item = cand
                        break
            if item is None and r_src < cfg.community_focus:
                c = primary if r_comm < 0.75 else secondary
                if clusters[c] is not None:
                    item = clusters[c].draw(r_draw, seen)
            if item is None:
                item = everything.draw(r_draw, seen)
            seen.add(item)
            seq.append(item)
        start = int(rng.integers(946_684_800, 1_514_764_800))  # 2000 .. 2018
        gaps = 1 + rng.exponential(2 * 86_400, length).astype(np.int64)
        out_u.append(np.full(length, u + 1, dtype=np.int64))
        out_i.append(ids[np.asarray(seq)])
        out_t.append(start + np.cumsum(gaps))
        out_r.append(rng.choice(ratings, size=length, p=[0.1, 0.15, 0.3, 0.2, 0.25]))
    return pd.DataFrame({"user_id": np.concatenate(out_u), "item_id": np.concatenate(out_i),
                         "timestamp": np.concatenate(out_t), "rating": np.concatenate(out_r)})


def make_synthetic_world(cfg: SyntheticConfig | None = None) -> Dataset:
    """Generate a complete synthetic :class:`~semid.data.schema.Dataset` (split and ready).

    Items, interactions and offline queries are drawn from ``cfg`` (default
    :class:`SyntheticConfig`); ``meta`` records ``source="synthetic"`` and the config.
    The same config always gives the same dataset.
    """
    cfg = cfg or SyntheticConfig()
    if not isinstance(cfg, SyntheticConfig):
        raise TypeError(f"make_synthetic_world takes a SyntheticConfig, got {type(cfg).__name__}")
    rng = np.random.default_rng(cfg.seed)
    items = _catalogue(cfg, rng)
    interactions = _interactions(cfg, items, rng)
    queries = generate_offline_queries(items, cfg.n_train_queries, cfg.n_test_queries, seed=cfg.seed,
                                       show_progress=False)
    meta = {"source": "synthetic", "config": to_dict(cfg)}
    ds = make_dataset(items, interactions, queries, meta=meta, min_history=cfg.min_history,
                      head_fraction=cfg.head_fraction)
    logger.info("synthetic world: %d items, %d users, %d interactions, %d queries", ds.n_items,
                cfg.n_users, len(ds.interactions), len(ds.queries))
    return ds
