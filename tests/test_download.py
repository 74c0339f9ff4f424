"""Tests for jaxrec.data.download, offline: `_urlopen` serves locally built zips."""

import dataclasses
import hashlib
import io
import zipfile

import pytest

from jaxrec.data import download, readers, synthetic


def _zip(files: dict[str, bytes]) -> bytes:
  buffer = io.BytesIO()
  with zipfile.ZipFile(buffer, "w") as zf:
    for name, data in files.items():
      zf.writestr(name, data)
  return buffer.getvalue()


@pytest.fixture
def serve(monkeypatch):
  """Makes `_urlopen` return given bytes and records the URLs asked for."""
  urls = []

  def install(payload: bytes):
    def fake_urlopen(url):
      urls.append(url)
      return io.BytesIO(payload)
    monkeypatch.setattr(download, "_urlopen", fake_urlopen)
    return urls

  return install


def _publish(monkeypatch, name: str, payload: bytes, **changes):
  """Sets the registry's size / checksum of `name` to those of `payload`."""
  published = {"size": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
  spec = dataclasses.replace(download.ARCHIVES[name], **{**published, **changes})
  monkeypatch.setitem(download.ARCHIVES, name, spec)


def _leftovers(directory):
  return sorted(p.name for p in directory.iterdir())


def test_sha256_file(tmp_path):
  (tmp_path / "f").write_bytes(b"abc")
  assert download.sha256_file(tmp_path / "f") == (
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


def test_fetch_verifies_extracts_and_reuses(tmp_path, serve, monkeypatch):
  payload = _zip({"ml-100k/u.data": b"1\t1\t5\t1\n", "ml-100k/README": b"hi"})
  _publish(monkeypatch, "ml-100k", payload)
  urls = serve(payload)
  folder = download.fetch("ml-100k", tmp_path / "data")
  assert folder == tmp_path / "data" / "ml-100k"
  assert (folder / "u.data").read_bytes() == b"1\t1\t5\t1\n"
  assert urls == ["https://files.grouplens.org/datasets/movielens/ml-100k.zip"]
  assert _leftovers(tmp_path / "data") == ["ml-100k", "ml-100k.zip"]
  # A second fetch re-extracts from the kept archive without downloading.
  (folder / "u.data").unlink()
  download.fetch("ml-100k", tmp_path / "data")
  assert len(urls) == 1 and (folder / "u.data").is_file()


def test_checksum_mismatch_removes_partial_file(tmp_path, serve):
  serve(_zip({"ml-1m/ratings.dat": b"x"}))
  with pytest.raises(ValueError, match=r"ml-1m.zip: downloaded \d+ bytes, expected "
                                       r"5917549; partial file removed"):
    download.fetch("ml-1m", tmp_path)
  assert _leftovers(tmp_path) == []


def test_sha256_mismatch_removes_file(tmp_path, serve, monkeypatch):
  payload = _zip({"ml-1m/ratings.dat": b"x"})
  _publish(monkeypatch, "ml-1m", payload, sha256="0" * 64)
  serve(payload)
  with pytest.raises(ValueError, match=r"ml-1m.zip: SHA-256 [0-9a-f]{64} differs from "
                                       r"the published 0{64}; file removed"):
    download.fetch("ml-1m", tmp_path)
  assert _leftovers(tmp_path) == []


def test_lastfm_files_verified_after_extraction(tmp_path, serve, monkeypatch):
  files = {"artists.dat": b"a", "tags.dat": b"t", "user_artists.dat": b"u",
           "user_taggedartists.dat": b"g", "readme.txt": b"r"}
  serve(_zip(files))
  with pytest.raises(ValueError, match=r"hetrec2011-lastfm-2k.zip: artists.dat has "
                                       r"SHA-256 [0-9a-f]{64}, expected c1738813"):
    download.fetch("lastfm", tmp_path)
  assert _leftovers(tmp_path) == []  # bad archive and unpacked files removed
  good = {n: hashlib.sha256(files[n]).hexdigest()
          for n in download.ARCHIVES["lastfm"].file_sha256}
  monkeypatch.setitem(download.ARCHIVES, "lastfm", dataclasses.replace(
      download.ARCHIVES["lastfm"], file_sha256=good))
  folder = download.fetch("lastfm", tmp_path)
  assert folder.name == "hetrec2011-lastfm-2k"  # the zip has no top folder
  assert sorted(p.name for p in folder.iterdir()) == sorted(files)


def test_missing_member_and_bad_zip(tmp_path, serve):
  serve(_zip({"tags.dat": b"t"}))
  with pytest.raises(ValueError, match=r"artists.dat is missing from the archive"):
    download.fetch("lastfm", tmp_path)
  serve(b"not a zip")
  with pytest.raises(ValueError, match=r"hetrec2011-lastfm-2k.zip: not a valid zip"):
    download.fetch("lastfm", tmp_path)
  assert _leftovers(tmp_path) == []


def test_fetch_completes_an_existing_folder(tmp_path, serve, monkeypatch):
  payload = _zip({"ml-100k/u.data": b"new", "ml-100k/u.item": b"item"})
  _publish(monkeypatch, "ml-100k", payload)
  serve(payload)
  (tmp_path / "ml-100k").mkdir()
  (tmp_path / "ml-100k" / "u.data").write_bytes(b"old")
  (tmp_path / "ml-100k" / "mine.txt").write_bytes(b"keep")
  download.fetch("ml-100k", tmp_path)
  assert (tmp_path / "ml-100k" / "u.data").read_bytes() == b"new"
  assert (tmp_path / "ml-100k" / "u.item").read_bytes() == b"item"
  assert (tmp_path / "ml-100k" / "mine.txt").read_bytes() == b"keep"


def test_unknown_dataset(tmp_path):
  with pytest.raises(ValueError, match=r"unknown dataset 'netflix'"):
    download.fetch("netflix", tmp_path)


def test_load_dataset_downloads_end_to_end(tmp_path, serve, monkeypatch):
  source = synthetic.write_synthetic_movielens(
      tmp_path / "src" / "ml-100k", num_users=20, num_items=30, ratings_per_user=(5, 10))
  payload = _zip({f"ml-100k/{p.name}": p.read_bytes() for p in source.iterdir()})
  _publish(monkeypatch, "ml-100k", payload)
  urls = serve(payload)
  data = readers.load_dataset("ml-100k", tmp_path / "data", download=True)
  assert data.num_users == 20 and len(urls) == 1
