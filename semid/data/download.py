"""Download the official GroupLens MovieLens archives into a local cache, with sha256 checks.

The archive goes to a temporary file, its sha256 is checked, it is unpacked into a
temporary directory inside the cache and only then renamed into place, so the cache never
holds a half-downloaded or half-extracted dataset. A second call finds the cached copy and
makes no request.

The sha256 values are those published in tensorflow-datasets'
``url_checksums/movielens.txt``; GroupLens itself publishes MD5 files only. Where no sha256 is
known (ml-32m) the computed one is logged, and callers can pin it with ``sha256=``
(``--sha256`` on the command line).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from semid.io import write_json

logger = logging.getLogger(__name__)

__all__ = ["MOVIELENS_ARCHIVES", "DEFAULT_BASE_URL", "DownloadError", "default_cache_dir",
           "download_movielens", "sha256_file"]

DEFAULT_BASE_URL = "https://files.grouplens.org/datasets/movielens"

# name -> (url, sha256 or None). sha256 from tensorflow/datasets url_checksums/movielens.txt.
MOVIELENS_ARCHIVES: dict[str, tuple[str, str | None]] = {
    "ml-latest-small": (f"{DEFAULT_BASE_URL}/ml-latest-small.zip",
                        "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436"),
    "ml-100k": (f"{DEFAULT_BASE_URL}/ml-100k.zip",
                "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229"),
    "ml-1m": (f"{DEFAULT_BASE_URL}/ml-1m.zip",
              "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20"),
    "ml-20m": (f"{DEFAULT_BASE_URL}/ml-20m.zip",
               "96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3"),
    "ml-25m": (f"{DEFAULT_BASE_URL}/ml-25m.zip",
               "8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa"),
    "ml-32m": (f"{DEFAULT_BASE_URL}/ml-32m.zip", None),  # no published sha256 found; pass sha256=
}

_MARKER = ".semid-download.json"


class DownloadError(ValueError):
    """A download failed (HTTP error, unreachable host, checksum mismatch, bad archive).

    A ``ValueError`` so that the command line reports it as one clear line.
    """


def default_cache_dir() -> Path:
    """``$SEMID_CACHE`` if set, else ``~/.cache/semid``."""
    env = os.environ.get("SEMID_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "semid"


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _fetch(url: str, dest: Path, show_progress: bool, timeout: float) -> None:
    from tqdm.auto import tqdm

    req = urllib.request.Request(url, headers={"User-Agent": "semid (python urllib)"})
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise DownloadError(
            f"downloading {url} failed: HTTP {exc.code} {exc.reason}. Check the archive name "
            f"(valid: {sorted(MOVIELENS_ARCHIVES)}) and --base-url, or download it by hand, unzip it "
            f"and pass --path DIR."
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            f"could not reach {url} ({reason}). Check the network, or download the archive "
            f"elsewhere, unzip it and pass --path DIR."
        ) from None
    with resp, open(dest, "wb") as fh:
        total = int(resp.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=Path(url).name,
                  disable=not show_progress) as bar:
            while True:
                try:
                    block = resp.read(1 << 16)
                except OSError as exc:
                    raise DownloadError(f"downloading {url} was interrupted ({exc}); run the command again.") from None
                if not block:
                    break
                fh.write(block)
                bar.update(len(block))
    if total is not None and dest.stat().st_size != total:
        raise DownloadError(f"downloading {url} stopped after {dest.stat().st_size} of {total} bytes; run the command again.")


def _extract(archive: Path, url: str, dest: Path) -> None:
    """Unpack ``archive`` into ``dest``; a single top-level folder is flattened away."""
    try:
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if not n.startswith("__MACOSX/")]
            for n in names:
                p = Path(n)
                if p.is_absolute() or ".." in p.parts:
                    raise DownloadError(f"{url}: archive member {n!r} points outside the archive; refusing to extract it.")
            for n in names:
                zf.extract(n, dest)
    except zipfile.BadZipFile as exc:
        raise DownloadError(f"{url} is not a valid zip archive ({exc}); delete it from the mirror or re-download.") from None
    tops = {Path(n).parts[0] for n in names if Path(n).parts}
    if len(tops) == 1 and (dest / next(iter(tops))).is_dir():
        inner = dest / next(iter(tops))
        for child in list(inner.iterdir()):
            os.replace(child, dest / child.name)
        inner.rmdir()


def download_movielens(name: str, cache_dir: str | os.PathLike | None = None, base_url: str | None = None,
                       sha256: str | None = None, show_progress: bool = True, timeout: float = 60.0) -> Path:
    """Download and unpack a GroupLens MovieLens archive; return the directory with its files.

    Args:
        name: one of :data:`MOVIELENS_ARCHIVES` (``ml-latest-small``, ``ml-100k``, ...).
        cache_dir: where datasets are kept (default: :func:`default_cache_dir`); the files
            land in ``<cache_dir>/movielens/<name>/``.
        base_url: a mirror holding ``<name>.zip`` (default: files.grouplens.org).
        sha256: the expected hex digest; overrides the built-in one. With neither, the
            computed digest is logged so that it can be pinned next time.
        show_progress: show a tqdm progress bar.

    Returns:
        The cached directory (e.g. holding ``movies.csv`` and ``ratings.csv``). A second call
        returns it without any request.

    Raises:
        ValueError: unknown ``name``. DownloadError: HTTP error, unreachable host, sha256
        mismatch (the file is deleted) or a corrupt archive.
    """
    if name not in MOVIELENS_ARCHIVES:
        raise ValueError(f"unknown MovieLens archive {name!r}; valid names: {sorted(MOVIELENS_ARCHIVES)}")
    default_url, known = MOVIELENS_ARCHIVES[name]
    url = f"{base_url.rstrip('/')}/{name}.zip" if base_url else default_url
    expected = (sha256 or known or "").strip().lower() or None
    if expected is not None and (len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected)):
        raise ValueError(f"sha256 {sha256!r} is not a 64-digit hex digest; copy it from `sha256sum {name}.zip`")
    root = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    target = root / "movielens" / name
    if (target / _MARKER).exists():
        logger.info("using cached %s at %s", name, target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.zip.part-", dir=target.parent)
    os.close(fd)
    tmp_zip = Path(tmp_name)
    tmp_dir: Path | None = None
    try:
        logger.info("downloading %s", url)
        _fetch(url, tmp_zip, show_progress, timeout)
        actual = sha256_file(tmp_zip)
        if expected is None:
            logger.warning("no known sha256 for %s; computed %s (pass --sha256 %s to pin it)", url, actual, actual)
        elif actual != expected:
            raise DownloadError(
                f"sha256 mismatch for {url} (downloaded to {tmp_zip}, now deleted): expected {expected}, "
                f"got {actual}. The download is corrupt or the archive changed upstream; retry, or pass "
                f"--sha256 {actual} if you trust this file."
            )
        tmp_dir = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=target.parent))
        _extract(tmp_zip, url, tmp_dir)
        write_json(tmp_dir / _MARKER, {"name": name, "url": url, "sha256": actual, "verified": expected is not None})
        if target.exists():  # a stale, unmarked directory (e.g. an interrupted old layout)
            shutil.rmtree(target)
        try:
            os.replace(tmp_dir, target)
        except OSError:
            if not (target / _MARKER).exists():  # another process won the race: use its copy
                raise
        tmp_dir = None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_zip.unlink()
        if tmp_dir is not None:
            shutil.rmtree(tmp_dir, ignore_errors=True)
    logger.info("%s ready at %s", name, target)
    return target
