"""The GroupLens downloader, against a file server on 127.0.0.1 serving a zip built here."""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
import zipfile
from pathlib import Path

import pytest

from semid.data.download import MOVIELENS_ARCHIVES, DownloadError, download_movielens
from semid.data.movielens import read_movielens

MOVIES = "movieId,title,genres\n1,Toy Story (1995),Animation|Comedy\n2,Heat (1995),Action\n"
RATINGS = "userId,movieId,rating,timestamp\n" + "".join(
    f"{u},{m},4.0,{100 * u + m}\n" for u in (1, 2) for m in (1, 2)
)


def make_zip(top: str = "ml-latest-small") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"{top}/movies.csv", MOVIES)
        zf.writestr(f"{top}/ratings.csv", RATINGS)
        zf.writestr(f"{top}/README.txt", "tiny test archive\n")
    return buf.getvalue()


class Server:
    """Serves ``files`` (url path -> bytes) and records every requested path."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                outer.requests.append(self.path)
                body = outer.files.get(self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/datasets"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def archive() -> tuple[bytes, str]:
    data = make_zip()
    return data, hashlib.sha256(data).hexdigest()


def test_download_verifies_extracts_and_reuses_cache(tmp_path: Path, archive) -> None:
    data, digest = archive
    with Server({"/datasets/ml-latest-small.zip": data}) as srv:
        p1 = download_movielens("ml-latest-small", cache_dir=tmp_path, base_url=srv.url, sha256=digest,
                                show_progress=False)
        p2 = download_movielens("ml-latest-small", cache_dir=tmp_path, base_url=srv.url, sha256=digest,
                                show_progress=False)
    assert p1 == p2 == tmp_path / "movielens" / "ml-latest-small"
    assert srv.requests == ["/datasets/ml-latest-small.zip"]  # the second call used the cache
    assert (p1 / "movies.csv").read_text() == MOVIES  # top-level folder flattened
    tables = read_movielens(p1)
    assert len(tables.items) == 2 and len(tables.interactions) == 4
    # nothing temporary left beside the cached copy
    assert sorted(x.name for x in (tmp_path / "movielens").iterdir()) == ["ml-latest-small"]


def test_wrong_sha256_names_both_digests_and_deletes_the_file(tmp_path: Path, archive) -> None:
    data, digest = archive
    wrong = "0" * 64
    with Server({"/datasets/ml-100k.zip": data}) as srv:
        with pytest.raises(DownloadError) as err:
            download_movielens("ml-100k", cache_dir=tmp_path, base_url=srv.url, sha256=wrong, show_progress=False)
    msg = str(err.value)
    assert wrong in msg and digest in msg and "ml-100k.zip" in msg
    assert list((tmp_path / "movielens").iterdir()) == []  # no partial zip, no directory


def test_builtin_sha256_is_checked_for_mirrors(tmp_path: Path, archive) -> None:
    data, digest = archive
    with Server({"/datasets/ml-1m.zip": data}) as srv:
        with pytest.raises(DownloadError, match="sha256 mismatch") as err:
            download_movielens("ml-1m", cache_dir=tmp_path, base_url=srv.url, show_progress=False)
    assert MOVIELENS_ARCHIVES["ml-1m"][1] in str(err.value) and digest in str(err.value)


def test_404_is_a_clear_error(tmp_path: Path) -> None:
    with Server({}) as srv:
        with pytest.raises(DownloadError, match="HTTP 404") as err:
            download_movielens("ml-25m", cache_dir=tmp_path, base_url=srv.url, show_progress=False)
    assert "ml-25m.zip" in str(err.value) and "--path" in str(err.value)
    assert not (tmp_path / "movielens" / "ml-25m").exists()
    assert list((tmp_path / "movielens").iterdir()) == []


def test_unreachable_host_is_a_clear_error(tmp_path: Path) -> None:
    with Server({}) as srv:
        url = srv.url
    # the server is shut down now: connection refused
    with pytest.raises(DownloadError, match="could not reach"):
        download_movielens("ml-latest-small", cache_dir=tmp_path, base_url=url, show_progress=False, timeout=5)


def test_corrupt_archive_is_a_clear_error(tmp_path: Path) -> None:
    junk = b"this is not a zip file"
    with Server({"/datasets/ml-latest-small.zip": junk}) as srv:
        with pytest.raises(DownloadError, match="not a valid zip"):
            download_movielens("ml-latest-small", cache_dir=tmp_path, base_url=srv.url,
                               sha256=hashlib.sha256(junk).hexdigest(), show_progress=False)
    assert list((tmp_path / "movielens").iterdir()) == []


def test_unknown_name_lists_valid_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ml-latest-small"):
        download_movielens("ml-7m", cache_dir=tmp_path, show_progress=False)


def test_cache_dir_defaults_to_env(tmp_path: Path, archive, monkeypatch) -> None:
    data, digest = archive
    monkeypatch.setenv("SEMID_CACHE", str(tmp_path / "cache"))
    with Server({"/datasets/ml-latest-small.zip": data}) as srv:
        p = download_movielens("ml-latest-small", base_url=srv.url, sha256=digest, show_progress=False)
    assert p == tmp_path / "cache" / "movielens" / "ml-latest-small"


def test_registry_urls_point_at_grouplens() -> None:
    for name, (url, sha) in MOVIELENS_ARCHIVES.items():
        assert url == f"https://files.grouplens.org/datasets/movielens/{name}.zip"
        assert sha is None or len(sha) == 64


def test_unknown_sha256_is_logged_not_pretended(tmp_path: Path, archive, caplog) -> None:
    data, digest = archive
    assert MOVIELENS_ARCHIVES["ml-32m"][1] is None
    with Server({"/datasets/ml-32m.zip": data}) as srv, caplog.at_level("WARNING"):
        p = download_movielens("ml-32m", cache_dir=tmp_path, base_url=srv.url, show_progress=False)
    assert digest in caplog.text and "--sha256" in caplog.text
    assert (p / "ratings.csv").exists()
