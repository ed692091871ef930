"""MovieLens readers: both file families on tiny hand-written files, the real
ml-latest-small, and every kind of bad input (the message must name the file and the fix)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from semid.data.movielens import detect_family, movie_text, parse_year, ratings_file, read_movielens


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


MOVIES = """movieId,title,genres
1,Toy Story (1995),Adventure|Animation|Children
2,"Matrix, The (1999)",Action|Sci-Fi
3,Babylon 5,(no genres listed)
"""
RATINGS = """userId,movieId,rating,timestamp
1,1,4.0,10
1,2,5.0,20
1,3,3.5,30
2,2,4.5,15
2,1,2.0,16
2,3,1.0,17
"""
TAGS = """userId,movieId,tag,timestamp
1,1,Pixar,1
2,1,pixar,2
3,1,fun,3
1,2,Cyberpunk,4
1,2,  Cyberpunk ,5
2,2,philosophy,6
2,2,action,7
"""
GENOME_TAGS = """tagId,tag
1,computer animation
2,dystopia
3,Virtual Reality
4,pixar
5,boring
"""
GENOME_SCORES = """movieId,tagId,relevance
1,1,0.95
1,2,0.10
1,3,0.20
1,4,0.99
1,5,0.60
2,1,0.30
2,2,0.90
2,3,0.97
2,4,0.05
2,5,0.55
"""


@pytest.fixture
def csv_dir(tmp_path: Path) -> Path:
    d = tmp_path / "ml-tiny"
    write(d / "movies.csv", MOVIES)
    write(d / "ratings.csv", RATINGS)
    write(d / "tags.csv", TAGS)
    write(d / "genome-tags.csv", GENOME_TAGS)
    write(d / "genome-scores.csv", GENOME_SCORES)
    return d


def test_csv_family_with_genome(csv_dir: Path) -> None:
    t = read_movielens(csv_dir, n_genome_tags=2, min_genome_relevance=0.5)
    assert t.family == "csv" and t.name == "ml-tiny" and t.ratings_path == csv_dir / "ratings.csv"
    items = t.items.set_index("item_id")
    assert list(t.items["item_id"]) == [1, 2, 3]  # file order
    assert items.loc[2, "title"] == "Matrix, The (1999)"
    assert items.loc[1, "year"] == 1995 and pd.isna(items.loc[3, "year"])
    assert items.loc[3, "genres"] == ""
    assert items.loc[1, "genres"] == "Adventure|Animation|Children"
    # user tags by frequency (lower-cased, deduplicated), then genome tags by relevance >= 0.5, top 2
    assert items.loc[1, "tags"] == "pixar|fun|computer animation"  # genome 'pixar' (0.99) deduplicated
    assert items.loc[2, "tags"] == "cyberpunk|action|philosophy|virtual reality|dystopia"
    assert items.loc[3, "tags"] == ""
    assert (items["description"] == "").all()
    assert items.loc[1, "text"] == ("Toy Story (1995). Genres: Adventure, Animation, Children. "
                                    "Tags: pixar, fun, computer animation.")
    assert items.loc[3, "text"] == "Babylon 5."
    inter = t.interactions
    assert list(inter.columns) == ["user_id", "item_id", "timestamp", "rating"]
    assert len(inter) == 6 and inter["rating"].dtype == "float32"
    assert inter.iloc[0].tolist() == [1, 1, 10, 4.0]


def test_genome_options(csv_dir: Path) -> None:
    off = read_movielens(csv_dir, n_genome_tags=0).items.set_index("item_id")
    assert off.loc[1, "tags"] == "pixar|fun"
    strict = read_movielens(csv_dir, n_genome_tags=10, min_genome_relevance=0.96).items.set_index("item_id")
    assert strict.loc[1, "tags"] == "pixar|fun"  # only 'pixar' passes 0.96, and it is a duplicate
    assert strict.loc[2, "tags"] == "cyberpunk|action|philosophy|virtual reality"
    with pytest.raises(ValueError, match="min_genome_relevance"):
        read_movielens(csv_dir, min_genome_relevance=1.5)


def test_ml100k_family(tmp_path: Path) -> None:
    d = tmp_path / "ml-100k"
    genres = "unknown|0\nAction|1\nAdventure|2\nAnimation|3\nChildren's|4\nComedy|5\nCrime|6\nDocumentary|7\n" \
             "Drama|8\nFantasy|9\nFilm-Noir|10\nHorror|11\nMusical|12\nMystery|13\nRomance|14\nSci-Fi|15\n" \
             "Thriller|16\nWar|17\nWestern|18\n"
    write(d / "u.genre", genres)
    flags1 = "|".join("1" if i in (3, 4, 5) else "0" for i in range(19))
    flags2 = "|".join("1" if i == 8 else "0" for i in range(19))
    item = (f"1|Toy Story (1995)|01-Jan-1995||http://x|{flags1}\n"
            f"2|Misérables, Les (1995)|01-Jan-1995||http://y|{flags2}\n"
            f"3|unknown|15-Mar-1994||http://z|{flags2}\n")
    write(d / "u.item", item.encode("latin-1"))  # the documented encoding
    write(d / "u.data", "1\t1\t5\t881250949\n1\t2\t3\t881250950\n2\t3\t4\t881250951\n")
    t = read_movielens(d)
    assert t.family == "ml-100k" and t.ratings_path == d / "u.data"
    items = t.items.set_index("item_id")
    assert items.loc[1, "genres"] == "Animation|Children's|Comedy"
    assert items.loc[2, "title"] == "Misérables, Les (1995)"
    assert items.loc[3, "year"] == 1994  # from the release date when the title has none
    assert items.loc[2, "text"] == "Misérables, Les (1995). Genres: Drama."
    assert t.interactions.iloc[2].tolist() == [2, 3, 881250951, 4.0]


def test_ml1m_family(tmp_path: Path) -> None:
    d = tmp_path / "ml-1m"
    write(d / "movies.dat", "1::Toy Story (1995)::Animation|Children's|Comedy\n"
                            "2::Cité des enfants perdus, La (1995)::Adventure|Sci-Fi\n".encode("latin-1"))
    write(d / "ratings.dat", "1::1::5::978300760\n1::2::3::978302109\n2::2::4::978301968\n")
    t = read_movielens(d)
    assert t.family == "dat"
    assert t.items["title"].tolist() == ["Toy Story (1995)", "Cité des enfants perdus, La (1995)"]
    assert t.items["genres"].tolist() == ["Animation|Children's|Comedy", "Adventure|Sci-Fi"]
    assert t.interactions["timestamp"].tolist() == [978300760, 978302109, 978301968]
    assert t.interactions["rating"].tolist() == [5.0, 3.0, 4.0]


def test_helpers() -> None:
    assert parse_year("Toy Story (1995)") == 1995
    assert parse_year("Babylon 5 ") is None
    assert parse_year("Fawlty Towers (1975-1979)") == 1975
    assert movie_text("Heat (1995)", ["Action"], []) == "Heat (1995). Genres: Action."


def test_real_ml_latest_small(ml_small_dir: Path) -> None:
    t = read_movielens(ml_small_dir)
    assert (len(t.items), t.interactions["user_id"].nunique(), len(t.interactions)) == (9742, 610, 100836)
    toy = t.items.set_index("item_id").loc[1]
    assert toy["title"] == "Toy Story (1995)" and toy["year"] == 1995
    assert toy["genres"] == "Adventure|Animation|Children|Comedy|Fantasy"
    assert "pixar" in toy["tags"].split("|")
    assert t.items["text"].str.len().min() > 0
    assert not t.items["genres"].str.contains("no genres listed").any()


# ------------------------------------------------------------------------ bad input
def test_missing_directory_and_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="ratings.csv is missing.*u.data.*ratings.dat"):
        read_movielens(tmp_path)
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        read_movielens(tmp_path / "nope")
    write(tmp_path / "movies.csv", MOVIES)
    with pytest.raises(FileNotFoundError) as err:
        read_movielens(tmp_path)
    assert f"{tmp_path}/ratings.csv is missing" in str(err.value)
    # a parent of the real directory gets a hint
    (tmp_path / "parent" / "ml-latest-small").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="did you mean .*ml-latest-small"):
        read_movielens(tmp_path / "parent")


def test_wrong_columns_names_expected_and_found(csv_dir: Path) -> None:
    write(csv_dir / "ratings.csv", "user,movieId,rating,timestamp\n1,1,4.0,10\n")
    with pytest.raises(ValueError) as err:
        read_movielens(csv_dir)
    msg = str(err.value)
    assert "ratings.csv" in msg and "userId" in msg and "'user'" in msg and "missing ['userId']" in msg


def test_malformed_row_names_the_line(csv_dir: Path) -> None:
    write(csv_dir / "movies.csv", MOVIES + "4,Heat (1995),Action,extra\n")
    with pytest.raises(ValueError) as err:
        read_movielens(csv_dir)
    assert "movies.csv is malformed" in str(err.value) and "line 5" in str(err.value)


def test_non_numeric_value_names_line_and_column(csv_dir: Path) -> None:
    write(csv_dir / "ratings.csv", RATINGS + "3,abc,4.0,99\n")
    with pytest.raises(ValueError) as err:
        read_movielens(csv_dir)
    msg = str(err.value)
    assert "ratings.csv line 8" in msg and "'movieId'" in msg and "'abc'" in msg


def test_empty_value_names_the_line(csv_dir: Path) -> None:
    write(csv_dir / "ratings.csv", RATINGS + "3,1,,99\n")
    with pytest.raises(ValueError, match=r"ratings.csv line 8: column 'rating'"):
        read_movielens(csv_dir)


def test_non_utf8_names_file_line_and_offset(csv_dir: Path) -> None:
    data = (MOVIES + "4,Caf\xe9 (2001),Comedy\n").encode("latin-1")
    write(csv_dir / "movies.csv", data)
    with pytest.raises(ValueError) as err:
        read_movielens(csv_dir)
    msg = str(err.value)
    assert "movies.csv is not UTF-8" in msg and "line 5" in msg
    offset = data.index("é".encode("latin-1"))
    assert f"byte offset {offset}" in msg and "iconv" in msg


def test_duplicate_movie_ids(csv_dir: Path) -> None:
    write(csv_dir / "movies.csv", MOVIES + "2,Matrix Again (2003),Action\n")
    with pytest.raises(ValueError) as err:
        read_movielens(csv_dir)
    msg = str(err.value)
    assert "movies.csv" in msg and "duplicate movie id 2" in msg and "[3, 5]" in msg


def test_rating_of_unknown_movie(csv_dir: Path) -> None:
    write(csv_dir / "ratings.csv", RATINGS + "3,999,4.0,99\n")
    with pytest.raises(ValueError) as err:
        read_movielens(csv_dir)
    msg = str(err.value)
    assert "ratings.csv line 8" in msg and "999" in msg and "movies.csv" in msg


def test_dat_family_bad_lines(tmp_path: Path) -> None:
    d = tmp_path / "ml-1m"
    write(d / "movies.dat", "1::Toy Story (1995)::Comedy\n2::Heat (1995)\n")
    write(d / "ratings.dat", "1::1::5::978300760\n")
    with pytest.raises(ValueError, match=r"movies.dat line 2 is malformed: expected 3"):
        read_movielens(d)
    write(d / "movies.dat", "1::Toy Story (1995)::Comedy\n1::Heat (1995)::Action\n")
    with pytest.raises(ValueError, match=r"movies.dat: duplicate movie id 1 on lines \[1, 2\]"):
        read_movielens(d)
    write(d / "movies.dat", "1::Toy Story (1995)::Comedy\n")
    write(d / "ratings.dat", "1::1::5::978300760\n1::7::5::978300761\n")
    with pytest.raises(ValueError, match=r"ratings.dat line 2: movie id 7 is not in movies.dat"):
        read_movielens(d)
    write(d / "ratings.dat", "1::1::5::978300760\n1::1::x::978300761\n")
    with pytest.raises(ValueError, match=r"ratings.dat line 2: field 'rating' holds 'x'"):
        read_movielens(d)


def test_detect_family_and_ratings_file(csv_dir: Path, tmp_path: Path) -> None:
    assert detect_family(csv_dir) == "csv" and ratings_file(csv_dir) == csv_dir / "ratings.csv"
    write(tmp_path / "k" / "u.data", "1\t1\t5\t1\n")
    assert detect_family(tmp_path / "k") == "ml-100k"
