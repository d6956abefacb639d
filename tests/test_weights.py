"""Tests for helpers.weights: registry facts, cache folder, verified atomic downloads.

No network: downloads come from file:// URLs, a loopback HTTP server on 127.0.0.1 and a
fake ``gdown`` module.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import multiprocessing
import os
import socket
import sys
import threading
import time
import types
from pathlib import Path

import platformdirs
import pytest

from helpers import weights
from helpers.weights import (
    ENV_VAR,
    HUB_ENV_VAR,
    REGISTRY,
    Source,
    WeightsCorruptError,
    WeightSpec,
    WeightsUnavailableError,
    cache_dir,
    describe_registry,
    ensure_weights,
    is_available,
    md5sum,
    resolve_hub_handle,
    weight_path,
)

PAYLOAD = bytes(range(256)) * 800  # 204,800 bytes: several chunks of every read size
PAYLOAD_MD5 = hashlib.md5(PAYLOAD).hexdigest()
TEST_NAME = "test_blob"


# --------------------------------------------------------------------------- helpers


def make_spec(*sources: Source, md5: str | None = PAYLOAD_MD5, size: int | None = len(PAYLOAD),
              name: str = TEST_NAME) -> WeightSpec:
    return WeightSpec(name=name, filename="blob.pth", arch="u2netp", framework="torch",
                      sources=tuple(sources), size_bytes=size, md5=md5, note="test entry")


@pytest.fixture
def register(monkeypatch):
    """Put a temporary entry in REGISTRY (removed again after the test)."""

    def _register(spec: WeightSpec) -> WeightSpec:
        monkeypatch.setitem(REGISTRY, spec.name, spec)
        return spec

    return _register


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.delenv(ENV_VAR, raising=False)
    return tmp_path / "cache"


def leftovers(folder: Path) -> list[str]:
    """Temporary or partial files a download must never leave behind."""
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.iterdir() if ".part-" in p.name or ".tmp-" in p.name)


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD; the path picks a behaviour (see ``do_GET``)."""

    hits: dict[str, int] = {}

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        count = self.hits[self.path] = self.hits.get(self.path, 0) + 1
        if self.path == "/missing":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        if self.path == "/truncate" or (self.path == "/flaky" and count == 1):
            # Promise every byte, send a third, hang up: an exception mid-stream.
            self.wfile.write(PAYLOAD[: len(PAYLOAD) // 3])
            self.wfile.flush()
            self.close_connection = True
            return
        step = 16384
        for start in range(0, len(PAYLOAD), step):
            self.wfile.write(PAYLOAD[start:start + step])
            if self.path == "/slow":
                self.wfile.flush()
                time.sleep(0.05)


@pytest.fixture
def server():
    """A loopback HTTP server; yields (base URL, per-path hit counter)."""
    hits: dict[str, int] = {}
    handler = type("Handler", (_Handler,), {"hits": hits})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    httpd.shutdown()
    httpd.server_close()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/nothing-listens-here"


def install_fake_gdown(monkeypatch, behaviour):
    """Replace ``gdown`` by a module whose ``download`` calls ``behaviour(output)``."""
    calls = []

    def download(url=None, output=None, quiet=False, id=None, **kwargs):
        calls.append({"id": id, "output": output, "quiet": quiet})
        return behaviour(Path(output))

    monkeypatch.setitem(sys.modules, "gdown", types.SimpleNamespace(download=download))
    return calls


def write_payload(output: Path) -> str:
    output.write_bytes(PAYLOAD)
    return str(output)


# -------------------------------------------------------------------------- registry


def test_registry_holds_exactly_the_known_files():
    assert set(REGISTRY) == {"cloth_segm_u2net", "u2net_cloth_seg_onnx", "u2net", "u2net_onnx",
                             "u2netp", "u2netp_onnx", "magenta_hub"}
    assert all(name == spec.name for name, spec in REGISTRY.items())


def test_registry_cloth_segm_u2net_facts():
    spec = REGISTRY["cloth_segm_u2net"]
    assert (spec.filename, spec.arch, spec.framework) == (
        "cloth_segm_u2net_latest.pth", "u2net_cloth", "torch")
    assert spec.sources == (Source("gdrive", "1mhF3yqd7R-Uje092eypktNl-RoZNuiCJ"),
                            Source("gdrive", "11xTBALOeUkyuaK3l60CpkYHLTmv7k3dY"))
    assert spec.size_bytes is None and spec.md5 is None
    assert "165 MB" in spec.note and "module." in spec.note and "dead" in spec.note


@pytest.mark.parametrize(
    ("name", "filename", "arch", "framework", "kind", "ref", "size", "md5"),
    [
        ("u2net_cloth_seg_onnx", "u2net_cloth_seg.onnx", "u2net_cloth", "onnx", "http",
         "https://github.com/danielgatis/rembg/releases/download/v0.0.0/u2net_cloth_seg.onnx",
         None, "2434d1f3cb744e0e49386c906e5a08bb"),
        ("u2net", "u2net.pth", "u2net", "torch", "gdrive", "1ao1ovG1Qtx4b7EoskHXmi2E9rp5CHLcZ",
         None, "347c3d51b01528e5c6c071e3cff1cb55"),
        ("u2net_onnx", "u2net.onnx", "u2net", "onnx", "http",
         "https://github.com/danielgatis/rembg/releases/download/v0.0.0/u2net.onnx",
         None, "60024c5c889badc19c04ad937298a77b"),
        ("u2netp", "u2netp.pth", "u2netp", "torch", "gdrive", "1rbSTGKAE-MTxBYHd-51l2hMOQPT_7EPy",
         None, "e4f636406ca4e2af789941e7f139ee2e"),
        ("u2netp_onnx", "u2netp.onnx", "u2netp", "onnx", "http",
         "https://github.com/danielgatis/rembg/releases/download/v0.0.0/u2netp.onnx",
         4574861, "8e83ca70e441ab06c318d82300c84806"),
    ],
)
def test_registry_single_source_facts(name, filename, arch, framework, kind, ref, size, md5):
    spec = REGISTRY[name]
    assert (spec.filename, spec.arch, spec.framework) == (filename, arch, framework)
    assert spec.sources == (Source(kind, ref),)
    assert spec.size_bytes == size
    assert spec.md5 == md5


def test_registry_magenta_hub_is_a_tfhub_handle():
    spec = REGISTRY["magenta_hub"]
    assert (spec.arch, spec.framework) == ("magenta_hub", "tfhub")
    assert spec.sources[0].url == "https://tfhub.dev/google/magenta/arbitrary-image-stylization-v1-256/2"


def test_source_url_for_drive_and_http():
    assert Source("gdrive", "abc_123").url == "https://drive.google.com/uc?id=abc_123"
    assert Source("http", "https://example.org/f.onnx").url == "https://example.org/f.onnx"
    with pytest.raises(ValueError, match="unknown source kind 'ftp'"):
        Source("ftp", "x")


def test_weight_spec_rejects_unknown_arch_and_bad_md5():
    with pytest.raises(ValueError, match="unknown arch 'resnet'.*'u2net_cloth'"):
        WeightSpec("x", "x.pth", "resnet", "torch", (), None, None, "")
    with pytest.raises(ValueError, match="32 lowercase hex"):
        WeightSpec("x", "x.pth", "u2net", "torch", (), None, "ABC", "")


def test_unknown_name_lists_valid_names(cache):
    with pytest.raises(ValueError, match="unknown weight name 'u3net'.*'cloth_segm_u2net'"):
        ensure_weights("u3net", cache=cache)


def test_describe_registry_rows(cache, register):
    register(make_spec(Source("http", "http://127.0.0.1:9/x")))
    target = weight_path(TEST_NAME, cache=cache)
    target.parent.mkdir(parents=True)
    target.write_bytes(PAYLOAD)
    rows = {row["name"]: row for row in describe_registry(cache=cache)}
    assert set(rows) == set(REGISTRY)
    assert set(rows["u2netp_onnx"]) >= {"name", "file", "framework", "arch", "sources", "size",
                                        "md5", "available"}
    assert rows["u2netp_onnx"]["size"] == "4574861 B"
    assert rows["u2net"]["size"] == "176.3 MB"
    assert rows["cloth_segm_u2net"]["md5"] == "unknown"
    assert rows["cloth_segm_u2net"]["sources"].count("https://drive.google.com/uc?id=") == 2
    assert rows["u2net"]["available"] is False
    assert rows[TEST_NAME]["available"] is True


# ------------------------------------------------------------------------ cache folder


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_VAR, raising=False)
    default = Path(platformdirs.user_cache_dir("clothstyle")) / "weights"
    assert cache_dir() == default
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "from_env"))
    assert cache_dir() == tmp_path / "from_env"
    assert cache_dir(tmp_path / "explicit") == tmp_path / "explicit"
    assert weight_path("u2netp") == tmp_path / "from_env" / "u2netp.pth"
    assert weight_path("u2netp", cache=tmp_path / "explicit") == tmp_path / "explicit" / "u2netp.pth"
    assert not (tmp_path / "from_env").exists()  # looking a path up creates nothing


def test_md5sum_matches_hashlib(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(PAYLOAD)
    assert md5sum(target, chunk=1000) == PAYLOAD_MD5


# ------------------------------------------------------------------------- downloads


def test_http_download_is_verified_and_cached(cache, register, server):
    base, hits = server
    register(make_spec(Source("http", base + "/ok")))
    assert not is_available(TEST_NAME, cache=cache)
    path = ensure_weights(TEST_NAME, cache=cache, progress=False)
    assert path == cache / "blob.pth"
    assert path.read_bytes() == PAYLOAD
    assert (cache / "blob.pth.md5ok").is_file()
    assert leftovers(cache) == []
    assert is_available(TEST_NAME, cache=cache)
    assert ensure_weights(TEST_NAME, cache=cache, progress=False) == path
    assert hits == {"/ok": 1}  # the second call used the cache


def test_file_url_download_with_progress_bar(cache, register, tmp_path):
    source_file = tmp_path / "source.bin"
    source_file.write_bytes(PAYLOAD)
    register(make_spec(Source("http", source_file.as_uri())))
    path = ensure_weights(TEST_NAME, cache=cache, progress=True)
    assert md5sum(path) == PAYLOAD_MD5
    assert leftovers(cache) == []


def test_downloaded_file_is_readable_by_others(cache, register, tmp_path):
    source_file = tmp_path / "source.bin"
    source_file.write_bytes(PAYLOAD)
    register(make_spec(Source("http", source_file.as_uri())))
    path = ensure_weights(TEST_NAME, cache=cache, progress=False)
    assert path.stat().st_mode & 0o777 == 0o644


def test_falls_back_to_the_next_source(cache, register, server, tmp_path):
    base, hits = server
    register(make_spec(Source("http", closed_port_url()),
                       Source("http", (tmp_path / "absent.bin").as_uri()),
                       Source("http", base + "/missing"),
                       Source("http", base + "/ok")))
    path = ensure_weights(TEST_NAME, cache=cache, progress=False)
    assert path.read_bytes() == PAYLOAD
    assert hits == {"/missing": 1, "/ok": 1}
    assert leftovers(cache) == []


@pytest.mark.parametrize(
    ("md5", "size", "reason"),
    [("0" * 32, len(PAYLOAD), f"md5 is {PAYLOAD_MD5}, expected 0{{32}}"),
     (PAYLOAD_MD5, 12345, f"size is {len(PAYLOAD)} bytes, expected 12345")],
)
def test_wrong_checksum_or_size_keeps_nothing(cache, register, server, md5, size, reason):
    base, _ = server
    register(make_spec(Source("http", base + "/ok"), md5=md5, size=size))
    with pytest.raises(WeightsUnavailableError, match=reason):
        ensure_weights(TEST_NAME, cache=cache, progress=False)
    assert not (cache / "blob.pth").exists()
    assert leftovers(cache) == []


def test_mid_stream_failure_leaves_no_partial_file_and_next_run_succeeds(cache, register, server):
    base, hits = server
    register(make_spec(Source("http", base + "/flaky")))
    with pytest.raises(WeightsUnavailableError, match=r"IncompleteRead|connection closed") as info:
        ensure_weights(TEST_NAME, cache=cache, progress=False)
    assert base + "/flaky" in str(info.value)
    assert not (cache / "blob.pth").exists()
    assert leftovers(cache) == []
    path = ensure_weights(TEST_NAME, cache=cache, progress=False)
    assert path.read_bytes() == PAYLOAD
    assert hits == {"/flaky": 2}
    assert leftovers(cache) == []


def test_a_partial_file_of_a_killed_download_is_swept_by_the_next_download(cache, register,
                                                                         server):
    base, hits = server
    register(make_spec(Source("http", base + "/ok")))
    cache.mkdir(parents=True)
    # what a download killed with SIGKILL leaves: its temporary file, never cleaned up
    stale = cache / "blob.pth.part-4a383c5d376b"
    stale.write_bytes(PAYLOAD[:100])
    other = cache / "other.pth.part-0123456789ab"     # another file's download: not ours
    other.write_bytes(b"x")
    assert ensure_weights(TEST_NAME, cache=cache, progress=False).read_bytes() == PAYLOAD
    assert not stale.exists() and other.exists()


def test_keyboard_interrupt_mid_download_removes_the_partial_files(cache, register, monkeypatch):
    register(make_spec(Source("gdrive", "FILE_ID")))

    def interrupted(output: Path):
        # Like gdown: stream into "<output>XXXXXXXX.part", which it keeps for resuming.
        (output.parent / (output.name + "a1b2c3d4.part")).write_bytes(PAYLOAD[:1000])
        raise KeyboardInterrupt

    install_fake_gdown(monkeypatch, interrupted)
    with pytest.raises(KeyboardInterrupt):
        ensure_weights(TEST_NAME, cache=cache, progress=False)
    assert not (cache / "blob.pth").exists()
    assert leftovers(cache) == []
    # The lock was released and the next run starts clean.
    install_fake_gdown(monkeypatch, write_payload)
    assert ensure_weights(TEST_NAME, cache=cache, progress=False).read_bytes() == PAYLOAD
    assert leftovers(cache) == []


def test_gdrive_source_uses_gdown_with_the_file_id(cache, register, monkeypatch):
    register(make_spec(Source("gdrive", "FILE_ID")))
    calls = install_fake_gdown(monkeypatch, write_payload)
    path = ensure_weights(TEST_NAME, cache=cache, progress=False)
    assert path.read_bytes() == PAYLOAD
    assert len(calls) == 1
    assert calls[0]["id"] == "FILE_ID" and calls[0]["quiet"] is True
    # Downloaded next to the final file under a temporary name, never onto it.
    assert Path(calls[0]["output"]).parent == cache
    assert Path(calls[0]["output"]).name.startswith("blob.pth.part-")
    assert leftovers(cache) == []


def test_gdown_failure_and_html_page_are_reported(cache, register, monkeypatch):
    register(make_spec(Source("gdrive", "DEAD_ID"), Source("gdrive", "QUOTA_ID"),
                       md5=None, size=None))

    answers = iter(["dead", "html"])

    def dead_or_html(output: Path):
        if next(answers) == "dead":
            return None  # what gdown returns for some dead links
        output.write_bytes(b"  <!DOCTYPE html><html><body>Quota exceeded</body></html>")
        return str(output)

    install_fake_gdown(monkeypatch, dead_or_html)
    with pytest.raises(WeightsUnavailableError) as info:
        ensure_weights(TEST_NAME, cache=cache, progress=False)
    message = str(info.value)
    assert "https://drive.google.com/uc?id=DEAD_ID" in message
    assert "gdown did not produce a file" in message
    assert "https://drive.google.com/uc?id=QUOTA_ID" in message
    assert "HTML page" in message
    assert not (cache / "blob.pth").exists()
    assert leftovers(cache) == []


@pytest.mark.parametrize("reply", [
    b"\xef\xbb\xbf<!DOCTYPE html><html><body>Quota exceeded</body></html>",
    b"\xef\xbb\xbf{\"error\": \"quota exceeded\"}",
])
def test_a_reply_led_by_a_byte_order_mark_is_still_known_for_text(cache, register,
                                                                  monkeypatch, reply):
    register(make_spec(Source("gdrive", "QUOTA_ID"), md5=None, size=None))
    install_fake_gdown(monkeypatch, lambda output: output.write_bytes(reply) and str(output))
    with pytest.raises(WeightsUnavailableError) as info:
        ensure_weights(TEST_NAME, cache=cache, progress=False)
    message = str(info.value)
    assert ("HTML page" in message or "text reply" in message) and "weights_only" not in message
    assert not (cache / "blob.pth").exists() and leftovers(cache) == []


def test_missing_gdown_gives_an_install_hint(cache, register, monkeypatch):
    register(make_spec(Source("gdrive", "FILE_ID")))
    monkeypatch.setitem(sys.modules, "gdown", None)  # makes `import gdown` fail
    with pytest.raises(WeightsUnavailableError, match="pip install 'gdown"):
        ensure_weights(TEST_NAME, cache=cache, progress=False)


def test_unavailable_message_names_urls_path_and_env_var(cache, register):
    register(make_spec(Source("gdrive", "FILE_ID"), Source("http", "https://example.org/blob.pth")))
    expected_path = str(cache / "blob.pth")
    with pytest.raises(WeightsUnavailableError) as info:
        ensure_weights(TEST_NAME, cache=cache, download=False)
    message = str(info.value)
    for needle in (TEST_NAME, "https://drive.google.com/uc?id=FILE_ID",
                   "https://example.org/blob.pth", "download=False", expected_path, ENV_VAR):
        assert needle in message
    assert not cache.exists()  # download=False creates nothing


def test_dead_sources_are_listed_with_their_errors(cache, register):
    dead = closed_port_url()
    register(make_spec(Source("http", dead)))
    with pytest.raises(WeightsUnavailableError) as info:
        ensure_weights(TEST_NAME, cache=cache, progress=False)
    message = str(info.value)
    assert dead in message and "URLError" in message
    assert str(cache / "blob.pth") in message and ENV_VAR in message


# ---------------------------------------------------------------- cached-file checks


def test_corrupt_cached_file_is_moved_aside_then_replaced(cache, register, server):
    base, _ = server
    register(make_spec(Source("http", base + "/ok")))
    cache.mkdir(parents=True)
    bad = bytes(len(PAYLOAD))  # right size, wrong bytes
    (cache / "blob.pth").write_bytes(bad)
    bad_md5 = hashlib.md5(bad).hexdigest()
    assert not is_available(TEST_NAME, cache=cache)
    with pytest.raises(WeightsCorruptError,
                       match=rf"md5 is {bad_md5}, expected {PAYLOAD_MD5}.*moved aside to .*blob\.pth\.corrupt"):
        ensure_weights(TEST_NAME, cache=cache, progress=False)
    assert not (cache / "blob.pth").exists()
    assert (cache / "blob.pth.corrupt").read_bytes() == bad  # nothing is lost
    assert ensure_weights(TEST_NAME, cache=cache, progress=False).read_bytes() == PAYLOAD
    # a second bad copy goes beside the first, which stays; the reason says "expected" once
    worse = bytes([1]) * len(PAYLOAD)
    (cache / "blob.pth").write_bytes(worse)
    (cache / "blob.pth.md5ok").unlink(missing_ok=True)
    with pytest.raises(WeightsCorruptError, match=r"moved aside to .*blob\.pth\.corrupt-2") as info:
        ensure_weights(TEST_NAME, cache=cache, progress=False)
    assert str(info.value).count(f"expected {PAYLOAD_MD5}") == 1
    assert (cache / "blob.pth.corrupt").read_bytes() == bad
    assert (cache / "blob.pth.corrupt-2").read_bytes() == worse


def test_verification_is_remembered_in_a_sidecar(cache, register, monkeypatch):
    register(make_spec(Source("http", "http://127.0.0.1:9/unused")))
    target = cache / "blob.pth"
    cache.mkdir(parents=True)
    target.write_bytes(PAYLOAD)
    assert is_available(TEST_NAME, cache=cache)  # hashes once, writes the sidecar
    assert (cache / "blob.pth.md5ok").is_file()

    def no_hashing(*args, **kwargs):
        raise AssertionError("md5 computed again despite a valid sidecar")

    with monkeypatch.context() as patch:
        patch.setattr(weights, "md5sum", no_hashing)
        assert is_available(TEST_NAME, cache=cache)
        assert ensure_weights(TEST_NAME, cache=cache, download=False) == target

    # Same size but new bytes and mtime: the sidecar no longer vouches for the file.
    target.write_bytes(bytes(len(PAYLOAD)))
    stat = target.stat()
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    assert not is_available(TEST_NAME, cache=cache)
    assert target.exists()  # is_available only reports, it moves nothing


# ----------------------------------------------------------------------- explicit path


def test_explicit_path(cache, register, tmp_path):
    register(make_spec(Source("http", "http://127.0.0.1:9/unused")))
    with pytest.raises(FileNotFoundError, match=r"path=.*nowhere\.pth does not exist"):
        ensure_weights(TEST_NAME, cache=cache, path=tmp_path / "nowhere.pth")
    with pytest.raises(FileNotFoundError, match="is a folder"):
        ensure_weights(TEST_NAME, cache=cache, path=tmp_path)
    good = tmp_path / "mine.pth"
    good.write_bytes(PAYLOAD)
    assert ensure_weights(TEST_NAME, cache=cache, path=good) == good
    wrong = tmp_path / "wrong.pth"
    wrong.write_bytes(bytes(len(PAYLOAD)))
    with pytest.raises(WeightsCorruptError, match=rf"expected md5 {PAYLOAD_MD5}.*left untouched"):
        ensure_weights(TEST_NAME, cache=cache, path=wrong)
    assert wrong.exists() and not cache.exists()


# ------------------------------------------------------------------ two processes


def _download_in_child(spec: WeightSpec, cache: str) -> None:
    REGISTRY[spec.name] = spec
    path = ensure_weights(spec.name, cache=cache, progress=False)
    if md5sum(path) != PAYLOAD_MD5:
        raise SystemExit(3)


def test_two_processes_downloading_at_once_share_one_download(cache, server):
    base, hits = server
    spec = make_spec(Source("http", base + "/slow"))
    context = multiprocessing.get_context("spawn")
    children = [context.Process(target=_download_in_child, args=(spec, str(cache)))
                for _ in range(2)]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=60)
    assert [child.exitcode for child in children] == [0, 0]
    assert md5sum(cache / "blob.pth") == PAYLOAD_MD5
    assert hits == {"/slow": 1}  # the second process waited and found the finished file
    assert leftovers(cache) == []
    assert not (cache / "blob.pth.corrupt").exists()


# ---------------------------------------------------------------------------- TF Hub


def test_resolve_hub_handle(cache, monkeypatch, tmp_path):
    monkeypatch.delenv(HUB_ENV_VAR, raising=False)
    url = "https://tfhub.dev/google/magenta/arbitrary-image-stylization-v1-256/2"
    assert resolve_hub_handle(cache=cache) == url
    assert not is_available("magenta_hub", cache=cache)

    local = tmp_path / "saved"
    with pytest.raises(FileNotFoundError, match=r"hub_handle=.*saved is not a TF Hub "
                       r"SavedModel folder \(no such folder\)"):
        resolve_hub_handle(local)
    local.mkdir()
    with pytest.raises(FileNotFoundError, match=r"\(no saved_model.pb inside\)"):
        resolve_hub_handle(local)
    (local / "saved_model.pb").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="give the folder that holds it"):
        resolve_hub_handle(local / "saved_model.pb")
    # a relative folder comes back absolute (it is recorded and used after a chdir)
    monkeypatch.chdir(tmp_path)
    assert resolve_hub_handle("saved", cache=cache) == str(local.resolve())
    with pytest.raises(ValueError, match="hub_handle is empty"):
        resolve_hub_handle("  ")
    with pytest.raises(TypeError, match="hub_handle must be a folder path .* got int 5"):
        resolve_hub_handle(5)
    assert resolve_hub_handle(local, cache=cache) == str(local)
    monkeypatch.setenv(HUB_ENV_VAR, str(local))
    assert resolve_hub_handle(cache=cache) == str(local)
    assert resolve_hub_handle("https://example.org/other", cache=cache) == "https://example.org/other"
    monkeypatch.delenv(HUB_ENV_VAR)

    cached = cache / REGISTRY["magenta_hub"].filename
    cached.mkdir(parents=True)
    (cached / "saved_model.pb").write_bytes(b"")
    assert resolve_hub_handle(cache=cache) == str(cached)
    assert is_available("magenta_hub", cache=cache)

    with pytest.raises(ValueError, match="resolve_hub_handle"):
        ensure_weights("magenta_hub", cache=cache)



# ------------------------------------------------------------------ downloads in "auto"


@pytest.fixture(autouse=True)
def fresh_network_state():
    """Each test starts without a remembered network failure (and leaves none behind)."""
    weights.forget_network_state()
    yield
    weights.forget_network_state()


@pytest.fixture
def online(monkeypatch):
    """Downloads allowed in "auto" (the session sets CLOTHSTYLE_OFFLINE=1, see conftest)."""
    monkeypatch.delenv(weights.OFFLINE_ENV_VAR, raising=False)


def test_the_test_session_is_offline_by_default():
    assert weights.offline_requested()


def test_auto_takes_the_cache_first(cache, register, server, online):
    base, hits = server
    register(make_spec(Source("http", base + "/ok")))
    ensure_weights(TEST_NAME, cache=cache, progress=False)
    path, why = weights.fetch_for_auto(TEST_NAME, cache=cache, progress=False)
    assert (path, why) == (cache / "blob.pth", None)
    assert hits == {"/ok": 1}


def test_auto_downloads_from_a_loopback_server(cache, register, server, online):
    base, hits = server
    register(make_spec(Source("http", base + "/ok")))
    path, why = weights.fetch_for_auto(TEST_NAME, cache=cache, progress=False)
    assert why is None
    assert path == cache / "blob.pth" and path.read_bytes() == PAYLOAD
    assert (cache / "blob.pth.md5ok").is_file() and leftovers(cache) == []


@pytest.mark.parametrize("opt_out", ["env", "download_false"])
def test_auto_opt_out_never_touches_the_network(cache, register, server, monkeypatch,
                                                opt_out):
    base, hits = server
    register(make_spec(Source("http", base + "/ok")))
    monkeypatch.setattr(weights, "_connect", lambda *a: pytest.fail("probed the network"))
    if opt_out == "env":
        monkeypatch.setenv(weights.OFFLINE_ENV_VAR, "1")
        path, why = weights.fetch_for_auto(TEST_NAME, cache=cache)
        assert "CLOTHSTYLE_OFFLINE=1" in why
    else:
        monkeypatch.delenv(weights.OFFLINE_ENV_VAR, raising=False)
        path, why = weights.fetch_for_auto(TEST_NAME, cache=cache, download=False)
        assert "download=False" in why
    assert path is None and hits == {} and not cache.exists()


def test_without_network_auto_gives_up_within_2_s_and_remembers(cache, register,
                                                                 monkeypatch, online):
    register(make_spec(Source("http", "https://weights.example.org/blob.pth")))
    calls = []

    def hanging_lookup(host, port, timeout):  # a name look-up that never answers
        calls.append(host)
        time.sleep(30)

    monkeypatch.setattr(weights, "_connect", hanging_lookup)
    start = time.perf_counter()
    path, why = weights.fetch_for_auto(TEST_NAME, cache=cache)
    assert time.perf_counter() - start < 2.5
    assert path is None and why.startswith("no network") and "weights.example.org:443" in why
    start = time.perf_counter()
    assert weights.fetch_for_auto(TEST_NAME, cache=cache) == (None, why)
    assert time.perf_counter() - start < 0.1 and calls == ["weights.example.org"]


def test_a_refused_connection_is_no_network(cache, register, online):
    register(make_spec(Source("http", closed_port_url())))
    start = time.perf_counter()
    path, why = weights.fetch_for_auto(TEST_NAME, cache=cache)
    assert path is None and why.startswith("no network") and time.perf_counter() - start < 2.5


def test_a_failed_download_is_remembered_for_the_process(cache, register, server, online):
    base, hits = server
    register(make_spec(Source("http", base + "/missing")))
    path, why = weights.fetch_for_auto(TEST_NAME, cache=cache, progress=False)
    assert path is None and why.startswith("download failed")
    # the note keeps why the source failed, not only that it did
    assert f"({base}/missing: " in why and "404" in why
    assert weights.fetch_for_auto(TEST_NAME, cache=cache, progress=False) == (None, why)
    assert hits == {"/missing": 1}
    # another cache folder (what the message suggests) is a fresh try, not the old answer
    elsewhere = cache.parent / "elsewhere"
    again = weights.fetch_for_auto(TEST_NAME, cache=elsewhere, progress=False)
    assert again[0] is None and hits == {"/missing": 2}


def test_pipeline_auto_downloads_segmentation_and_saliency(cache, register, server, online,
                                                           monkeypatch):
    from helpers import pipeline

    base, hits = server
    register(make_spec(Source("http", base + "/ok"), name="u2net_cloth_seg_onnx"))
    register(dataclasses.replace(make_spec(Source("http", base + "/ok"), name="test_saliency"),
                                 filename="saliency.pth"))
    monkeypatch.setattr(pipeline, "_SALIENCY_WEIGHTS", {"u2netp_onnx": ("test_saliency",
                                                                        "u2netp")})
    notes = []
    assert pipeline.resolve_backend("segmentation", "auto", cache=cache,
                                    notify=notes.append) == "u2net_cloth_onnx"
    assert pipeline.resolve_backend("saliency", "auto", cache=cache,
                                    notify=notes.append) == "u2netp_onnx"
    assert notes == [] and hits == {"/ok": 2}


def test_pipeline_auto_without_network_falls_back_with_one_line(cache, register, online,
                                                                monkeypatch):
    from helpers import pipeline

    for name in ("u2net_cloth_seg_onnx", "cloth_segm_u2net"):
        register(make_spec(Source("http", closed_port_url()), name=name))
    notes = []
    assert pipeline.resolve_backend("segmentation", "auto", cache=cache,
                                    notify=notes.append) == "classical_parsing"
    assert len(notes) == 1 and "no network" in notes[0] and "classical_parsing" in notes[0]


def test_pipeline_auto_offline_names_the_opt_out(cache):
    from helpers import pipeline

    notes = []
    assert pipeline.resolve_backend("saliency", "auto", cache=cache,
                                    notify=notes.append) == "person_matte"
    assert len(notes) == 1 and "CLOTHSTYLE_OFFLINE=1" in notes[0]


# ------------------------------------------------ files without md5 or size: load them


@pytest.fixture(scope="module")
def u2netp_checkpoint(tmp_path_factory) -> bytes:
    """A real (randomly initialised) U2NETP state dict, as bytes."""
    torch = pytest.importorskip("torch")
    from helpers import u2net

    path = tmp_path_factory.mktemp("ckpt") / "u2netp.pth"
    torch.manual_seed(0)
    torch.save(u2net.build_network("u2netp").state_dict(), path)
    return path.read_bytes()


def unverified_spec(*sources: Source, name: str = TEST_NAME, filename: str = "net.pth"
                    ) -> WeightSpec:
    """Like the cloth checkpoint: neither md5 nor size is known."""
    return WeightSpec(name=name, filename=filename, arch="u2netp", framework="torch",
                      sources=tuple(sources), size_bytes=None, md5=None, note="test entry")


def test_a_file_without_md5_or_size_must_load_and_is_checked_once(cache, register,
                                                                  u2netp_checkpoint,
                                                                  monkeypatch):
    register(unverified_spec())
    cache.mkdir(parents=True)
    target = cache / "net.pth"
    target.write_bytes(u2netp_checkpoint)
    assert is_available(TEST_NAME, cache=cache)
    record = (cache / "net.pth.md5ok").read_text()
    assert '"loaded_as": "u2netp"' in record
    with monkeypatch.context() as patch:  # recorded: not loaded again
        patch.setattr(weights, "_load_problem", lambda *a: pytest.fail("loaded again"))
        assert is_available(TEST_NAME, cache=cache)
        assert ensure_weights(TEST_NAME, cache=cache, download=False) == target


@pytest.mark.parametrize("damage, reason", [
    ("third", "it does not load as u2netp: not a PyTorch checkpoint"),
    ("quota", "the file is a text reply (JSON or XML), not model weights"),
    ("other_net", "it does not load as u2netp"),
])
def test_a_broken_file_without_md5_is_not_installed_and_auto_moves_it_aside(
        cache, register, u2netp_checkpoint, damage, reason):
    # A download cut to a third, or a JSON "quota exceeded" body, once counted as
    # installed: auto picked it and every photo failed.
    register(unverified_spec())
    cache.mkdir(parents=True)
    bad = {"third": u2netp_checkpoint[:len(u2netp_checkpoint) // 3],
           "quota": b'{"error": {"code": 403, "message": "quota exceeded"}}',
           "other_net": _pickled_state({"outconv.weight": 1})}[damage]
    (cache / "net.pth").write_bytes(bad)
    assert not is_available(TEST_NAME, cache=cache)
    assert (cache / "net.pth").read_bytes() == bad  # is_available only reports
    path, why = weights.fetch_for_auto(TEST_NAME, cache=cache, download=False)
    assert path is None
    assert why.startswith(f"{cache / 'net.pth'} was corrupt ({reason}")
    assert f"moved aside to {cache / 'net.pth.corrupt'}" in why
    assert why.endswith("; downloads off (download=False)")
    assert (cache / "net.pth.corrupt").read_bytes() == bad and not (cache / "net.pth").exists()
    with pytest.raises(WeightsUnavailableError):  # gone from the cache: no longer used
        ensure_weights(TEST_NAME, cache=cache, download=False)


def _pickled_state(state):
    torch = pytest.importorskip("torch")
    import io

    buffer = io.BytesIO()
    torch.save({key: torch.zeros(value) for key, value in state.items()}, buffer)
    return buffer.getvalue()


def test_auto_falls_back_saying_the_cached_file_was_corrupt(cache, register):
    from helpers import pipeline

    register(unverified_spec(name="cloth_segm_u2net", filename="cloth.pth"))
    register(unverified_spec(name="u2net_cloth_seg_onnx", filename="cloth.onnx"))
    cache.mkdir(parents=True)
    (cache / "cloth.pth").write_bytes(b"<!DOCTYPE html><html>Google Drive quota</html>")
    notes = []
    chosen = pipeline.resolve_backend("segmentation", "auto", cache=cache, download=False,
                                      notify=notes.append)
    assert chosen == "classical_parsing" and len(notes) == 1
    assert "no U²-Net cloth weights in" not in notes[0]  # it is there, and broken
    assert notes[0].startswith("segmentation: the U²-Net cloth weights are unusable (")
    assert f"{cache / 'cloth.pth'} was corrupt (the file is an HTML page" in notes[0]
    assert "moved aside to" in notes[0] and "using the offline 'classical_parsing'" in notes[0]


def test_a_partial_download_without_md5_is_never_renamed_into_place(cache, register,
                                                                     monkeypatch,
                                                                     u2netp_checkpoint):
    # gdown "succeeds" with a third of the file: no size or md5 can tell, loading does.
    install_fake_gdown(monkeypatch, lambda output: output.write_bytes(
        u2netp_checkpoint[:len(u2netp_checkpoint) // 3]) or str(output))
    register(unverified_spec(Source("gdrive", "some-id")))
    with pytest.raises(WeightsUnavailableError, match="downloaded file rejected: it does not "
                                                      "load as u2netp"):
        ensure_weights(TEST_NAME, cache=cache, progress=False)
    assert not (cache / "net.pth").exists() and leftovers(cache) == []
    install_fake_gdown(monkeypatch, lambda output: output.write_bytes(u2netp_checkpoint)
                       or str(output))
    assert ensure_weights(TEST_NAME, cache=cache, progress=False).read_bytes() == \
        u2netp_checkpoint
    assert '"loaded_as": "u2netp"' in (cache / "net.pth.md5ok").read_text()


# --------------------------------------------------------------- cache folder problems


def test_a_cache_path_that_is_a_file_is_named_with_the_variable(cache, register, tmp_path):
    register(make_spec(Source("http", closed_port_url())))
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    for folder in (blocker, blocker / "weights"):
        with pytest.raises(weights.CacheFolderError,
                           match=rf"cache folder {folder} cannot be used: {blocker} is a "
                                 rf"file, not a folder; .*{ENV_VAR}"):
            ensure_weights(TEST_NAME, cache=folder, progress=False)
    assert blocker.read_text() == "a file"


def _read_only(monkeypatch):
    """A read-only cache folder as filelock and os.replace meet it (the tests may run as
    root, who can write anywhere)."""
    import filelock

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(filelock.FileLock, "acquire", denied)
    monkeypatch.setattr(weights.os, "replace", denied)


def test_a_read_only_cache_folder_is_named_and_does_not_hide_a_corrupt_file(
        cache, register, server, monkeypatch):
    base, _ = server
    register(make_spec(Source("http", base + "/ok")))
    cache.mkdir(parents=True)
    _read_only(monkeypatch)
    with pytest.raises(weights.CacheFolderError,
                       match=rf"cannot be downloaded into {cache} \(Permission denied\): the "
                             rf"cache folder {cache} is not writable: .*set {ENV_VAR}"):
        ensure_weights(TEST_NAME, cache=cache, progress=False)
    (cache / "blob.pth").write_bytes(bytes(len(PAYLOAD)))  # right size, wrong md5
    with pytest.raises(WeightsCorruptError,
                       match=rf"blob\.pth is corrupt \(md5 is .*\) and cannot be moved aside: "
                             rf"the cache folder {cache} is not writable.*{ENV_VAR}"):
        ensure_weights(TEST_NAME, cache=cache, progress=False)
    path, why = weights.fetch_for_auto(TEST_NAME, cache=cache, download=False)
    assert path is None and "could not be moved aside (Permission denied)" in why
    assert ENV_VAR in why
