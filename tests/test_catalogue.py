"""The catalogue job (``helpers.catalogue``) through ``python -m helpers.run --content``.

Tiny photos at ``--quick``. The tests that only need some cluster share one local Dask
cluster of 2 workers (``dask_cluster`` in conftest.py, passed as ``--cluster``); the end to
end test and the killed runs start the command's own local 2-worker cluster, and check
that no process of it is left behind.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import psutil
import pytest
from filelock import FileLock
from PIL import Image

from helpers import PROJECT_ROOT, catalogue
from helpers import run as run_module
from helpers.images import fit_to_cap, sample_content
from helpers.run import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, main


def make_photos(folder, count):
    """``count`` small photos: the two samples at several sizes and mirrored."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = [sample_content("astronaut"), sample_content("grace_hopper")]
    for index in range(count):
        image, _ = fit_to_cap(sources[index % 2], 80 + 8 * index)
        if index % 4 >= 2:
            image = np.ascontiguousarray(image[:, ::-1])
        Image.fromarray(image).save(folder / f"photo{index:02d}.png")
    return sorted(folder.glob("*.png"))


def digests(folder):
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.iterdir())}


def manifest_rows(output):
    return [json.loads(line) for line in
            (output / catalogue.MANIFEST_NAME).read_text().splitlines()]


def job_args(content, output, *extra):
    return ["--no-notebooks", "--quick", "--style", "stripes", "--content", str(content),
            "--output", str(output), *extra]


def own_children():
    """This process's descendants, less Python's shared resource tracker (one per process)."""
    pids = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if "resource_tracker" not in " ".join(child.cmdline()):
                pids.add(child.pid)
        except psutil.ZombieProcess:
            pids.add(child.pid)  # not reaped yet: still left over
        except psutil.NoSuchProcess:
            continue
    return pids


@pytest.fixture(scope="module")
def four_photos(tmp_path_factory):
    return make_photos(tmp_path_factory.mktemp("four"), 4)[0].parent


@pytest.fixture(scope="module")
def reference(four_photos, tmp_path_factory, dask_cluster):
    """The outputs of one uninterrupted run over ``four_photos`` (on the shared cluster)."""
    output = tmp_path_factory.mktemp("reference")
    assert main(job_args(four_photos, output, "--cluster", dask_cluster)) == EXIT_OK
    return digests(output / "photos")


def test_a_small_folder_end_to_end_on_a_local_two_worker_cluster(four_photos, reference,
                                                                  tmp_path, capsys):
    before = own_children()
    status = main(job_args(four_photos, tmp_path, "--workers", "2"))
    captured = capsys.readouterr()
    assert status == EXIT_OK
    assert "2 worker(s)" in captured.out
    assert "photos: 4 done, 0 skipped (already done), 0 failed, 0 not finished" in captured.out
    assert "photos/s" in captured.out
    # The same bytes as the run on the other cluster.
    assert digests(tmp_path / "photos") == reference
    rows = manifest_rows(tmp_path)
    assert sorted(row["input"] for row in rows) == [str(p) for p in sorted(four_photos.iterdir())]
    for row in rows:
        assert row["status"] == "ok" and row["error"] is None
        assert row["content_sha256"] == hashlib.sha256(
            Path(row["input"]).read_bytes()).hexdigest()
        assert row["parameters"]["max_side"] == 256 and row["parameters"]["style"] == "stripes"
        assert row["backends"]["stylization"] == "magenta_onnx"
        assert row["device"]["stylization"] == "cpu"
        assert row["files"] == {row["output"]: reference[os.path.basename(row["output"])]}
        assert row["time"].endswith("+00:00")
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["ok"] is True and len(metrics["photos"]["processed"]) == 4
    # The engine stopped: none of the processes it started is left.
    deadline = time.monotonic() + 10
    while own_children() - before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert own_children() - before == set()


def test_a_rerun_skips_finished_work_and_redoes_what_changed(four_photos, reference, tmp_path,
                                                             capsys, dask_cluster):
    args = job_args(four_photos, tmp_path, "--cluster", dask_cluster)
    assert main(args) == EXIT_OK
    capsys.readouterr()
    rows = len(manifest_rows(tmp_path))
    times = {path.name: path.stat().st_mtime_ns for path in (tmp_path / "photos").iterdir()}
    assert main(args) == EXIT_OK
    assert "0 done, 4 skipped" in capsys.readouterr().out
    assert len(manifest_rows(tmp_path)) == rows
    assert {path.name: path.stat().st_mtime_ns
            for path in (tmp_path / "photos").iterdir()} == times
    # An output damaged since is redone, and only that one.
    damaged = tmp_path / "photos" / "photo01_stripes.png"
    damaged.write_bytes(b"not the recorded bytes")
    assert main(args) == EXIT_OK
    assert "1 done, 3 skipped" in capsys.readouterr().out
    assert digests(tmp_path / "photos") == reference
    # Other parameters: everything is redone.
    assert main([*args, "--method", "feather"]) == EXIT_OK
    assert "4 done, 0 skipped" in capsys.readouterr().out


def test_a_bad_file_among_good_ones_is_recorded_and_the_others_go_on(four_photos, reference,
                                                                     tmp_path, capsys,
                                                                     dask_cluster):
    content = tmp_path / "content"
    content.mkdir()
    for photo in four_photos.iterdir():
        (content / photo.name).write_bytes(photo.read_bytes())
    (content / "photo00x_truncated.png").write_bytes(
        (four_photos / "photo00.png").read_bytes()[:200])
    status = main(job_args(content, tmp_path / "out", "--cluster", dask_cluster))
    captured = capsys.readouterr()
    assert status == EXIT_FAILED
    assert "4 done, 0 skipped (already done), 1 failed" in captured.out
    assert "photo00x_truncated.png" in captured.err and "ImageLoadError" in captured.err
    rows = {os.path.basename(row["input"]): row for row in manifest_rows(tmp_path / "out")}
    bad = rows.pop("photo00x_truncated.png")
    assert bad["status"] == "failed" and bad["error"].startswith("ImageLoadError: ")
    assert bad["files"] == {}
    assert all(row["status"] == "ok" for row in rows.values()) and len(rows) == 4
    assert digests(tmp_path / "out" / "photos") == reference
    # The rerun redoes only the bad one (and fails it again).
    assert main(job_args(content, tmp_path / "out", "--cluster", dask_cluster)) == EXIT_FAILED
    assert "0 done, 4 skipped (already done), 1 failed" in capsys.readouterr().out


# --------------------------------------------------------------------------- killed runs


def start_job(content, output, marker, *extra):
    env = {**os.environ, "CLOTHSTYLE_OFFLINE": "1", "CLOTHSTYLE_TEST_MARKER": marker}
    env.pop(catalogue.SCHEDULER_ENV, None)
    return subprocess.Popen(
        [sys.executable, "-m", "helpers.run", *job_args(content, output, "--workers", "2"),
         *extra], cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True)


def marked_processes(marker):
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get("CLOTHSTYLE_TEST_MARKER") == marker:
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def wait_for_first_output(output, process, timeout=120):
    deadline = time.monotonic() + timeout
    manifest = output / catalogue.MANIFEST_NAME
    while time.monotonic() < deadline:
        if manifest.is_file() and '"status": "ok"' in manifest.read_text():
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    pytest.fail("no photo finished in time")


def assert_no_processes_left(marker):
    deadline = time.monotonic() + 15
    while marked_processes(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marked_processes(marker) == []


@pytest.fixture(scope="module")
def eight_photos(tmp_path_factory, dask_cluster):
    folder = tmp_path_factory.mktemp("eight")
    make_photos(folder, 8)
    output = tmp_path_factory.mktemp("eight_reference")
    assert main(job_args(folder, output, "--cluster", dask_cluster)) == EXIT_OK
    return folder, digests(output / "photos")


@pytest.mark.slow
@pytest.mark.parametrize("how", ["SIGKILL driver", "SIGKILL worker"])
def test_a_killed_run_leaves_no_half_written_file_and_the_next_run_completes_it(
        eight_photos, tmp_path, how):
    content, reference = eight_photos
    marker = uuid.uuid4().hex
    process = start_job(content, tmp_path, marker)
    wait_for_first_output(tmp_path, process)
    if how == "SIGKILL driver":
        os.kill(process.pid, signal.SIGKILL)
        process.communicate(timeout=60)
        assert_no_processes_left(marker)
        # Every file under its final name is a whole output of the uninterrupted run.
        finished = {name: digest for name, digest in digests(tmp_path / "photos").items()
                    if not name.startswith(".")}
        assert 1 <= len(finished) < 8
        assert all(reference[name] == digest for name, digest in finished.items())
        # an output whose manifest row the kill cut off is redone (byte-identical), so
        # the rerun skips exactly the photos recorded as done
        recorded = [row for row in catalogue.read_manifest(
            tmp_path / catalogue.MANIFEST_NAME).values() if row.get("status") == "ok"]
        assert len(recorded) <= len(finished)
        completed = subprocess.run(
            [sys.executable, "-m", "helpers.run", *job_args(content, tmp_path, "--workers",
                                                            "2")],
            cwd=PROJECT_ROOT, env={**os.environ, "CLOTHSTYLE_TEST_MARKER": marker},
            capture_output=True, text=True, timeout=300)
        assert completed.returncode == EXIT_OK, completed.stderr
        assert f"{len(recorded)} skipped" in completed.stdout
    else:
        workers = [child for child in psutil.Process(process.pid).children(recursive=True)
                   if "distributed" in " ".join(child.cmdline())
                   or "multiprocessing.spawn" in " ".join(child.cmdline())]
        workers = [child for child in workers
                   if "resource_tracker" not in " ".join(child.cmdline())]
        assert len(workers) == 2
        workers[0].kill()
        out, err = process.communicate(timeout=300)
        # Dask restarts the worker and reruns its task: the same run completes.
        assert process.returncode == EXIT_OK, err
    assert digests(tmp_path / "photos") == reference  # no temporary file left either
    assert_no_processes_left(marker)


@pytest.mark.slow
def test_ctrl_c_says_what_finished_exits_130_and_keeps_the_outputs(eight_photos, tmp_path):
    content, reference = eight_photos
    marker = uuid.uuid4().hex
    process = start_job(content, tmp_path, marker)
    wait_for_first_output(tmp_path, process)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    out, err = process.communicate(timeout=120)
    assert process.returncode == EXIT_INTERRUPTED, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "interrupted: " in err and "not finished (run the same command again" in err
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    finished = [item["output"] for item in metrics["photos"]["processed"]]
    assert metrics["photos"]["interrupted"] is True and finished
    assert len(finished) + len(metrics["photos"]["not_finished"]) == 8
    for path in finished:
        name = os.path.basename(path)
        assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == reference[name]
    assert_no_processes_left(marker)


# --------------------------------------------------------------------------- folder-run safety


def test_an_output_never_lands_on_an_input_of_the_run(tmp_path, capsys):
    # --content is the output's photos/ folder, holding a photo named like an output.
    photos = make_photos(tmp_path / "out" / "photos", 2)
    named_like_an_output = tmp_path / "out" / "photos" / "photo00_stripes.png"
    photos[1].rename(named_like_an_output)
    before = digests(tmp_path / "out" / "photos")
    status = main(job_args(tmp_path / "out" / "photos", tmp_path / "out"))
    err = capsys.readouterr().err
    assert status == EXIT_USAGE
    assert "is inside the output folder" in err and "give another --output" in err
    assert digests(tmp_path / "out" / "photos") == before
    # A glob reaching into it is refused the same way.
    status = main(job_args(str(tmp_path / "out" / "*" / "*.png"), tmp_path / "out"))
    assert status == EXIT_USAGE and "is inside the output folder" in capsys.readouterr().err
    assert digests(tmp_path / "out" / "photos") == before


def test_a_planned_write_on_an_input_is_refused(tmp_path):
    photo = tmp_path / "metrics.json"
    with pytest.raises(catalogue.JobSetupError, match="would overwrite the input"):
        catalogue.check_apart_from_inputs([photo], [tmp_path / "metrics.json"],
                                          tmp_path / "photos")


def test_output_names_are_unique_within_a_run_whatever_the_case(tmp_path):
    photos = [tmp_path / name for name in ("a.JPG", "a.Jpg", "a.jpg", "a.png", "b.png",
                                           "a_png.jpg")]
    photos.append(tmp_path / "sub" / "b.png")  # a glob can find the same name twice
    names = catalogue.output_names(photos, "tartan")
    assert len({name.casefold() for name in names.values()}) == len(photos)
    # "a.jpg" beside "a.png" gets its suffix in the name; what still clashes, a hash.
    assert catalogue.output_names(photos[2:4], "tartan") == {
        photos[2]: "a_jpg_tartan.png", photos[3]: "a_png_tartan.png"}
    assert names[tmp_path / "a_png.jpg"].startswith("a_png_jpg-")
    assert names[tmp_path / "a.JPG"].startswith("a_JPG-")
    assert names[tmp_path / "a.Jpg"].startswith("a_Jpg-")
    # The same photos give the same names, in any order: resumption finds its outputs.
    assert catalogue.output_names(photos[::-1], "tartan") == names


def test_a_photo_of_the_same_name_from_another_folder_never_overwrites_an_earlier_output(
        tmp_path, capsys):
    image, _ = fit_to_cap(sample_content("astronaut"), 64)
    first, second = tmp_path / "day1" / "IMG_0001.png", tmp_path / "day2" / "IMG_0001.png"
    for index, photo in enumerate((first, second)):
        photo.parent.mkdir()
        Image.fromarray(np.ascontiguousarray(np.roll(image, 7 * index, axis=1))).save(photo)
    output = tmp_path / "out"
    assert main(job_args(first, output)) == EXIT_OK
    earlier = output / "photos" / "IMG_0001_stripes.png"
    before = earlier.read_bytes()
    assert main(job_args(second, output)) == EXIT_OK
    assert earlier.read_bytes() == before           # the first photo's output stays
    rows = catalogue.read_manifest(output / catalogue.MANIFEST_NAME)
    assert rows[str(first)]["output"] == str(earlier)
    later = Path(rows[str(second)]["output"])
    assert later.name.startswith("IMG_0001_png-") and later.is_file()
    # a rerun of either finds its own output and skips it
    assert main(job_args(first, output)) == EXIT_OK
    assert main(job_args(second, output)) == EXIT_OK
    assert "1 skipped" in capsys.readouterr().out
    assert sorted(p.name for p in (output / "photos").iterdir()) == sorted(
        [earlier.name, later.name])


def test_three_photos_differing_only_in_case_give_three_outputs(tmp_path, capsys,
                                                                monkeypatch):
    content = tmp_path / "content"
    content.mkdir()
    image, _ = fit_to_cap(sample_content("astronaut"), 64)
    for index, name in enumerate(("a.JPG", "a.Jpg", "a.jpg")):
        Image.fromarray(np.ascontiguousarray(np.roll(image, index, axis=1))).save(
            content / name, format="JPEG")
    # --workers 8 for three photos: the local cluster is asked for three (run here on one)
    asked = []
    real_client = catalogue.dask_client

    def one_worker(cluster=None, workers=2):
        asked.append(workers)
        return real_client(cluster, 1)

    monkeypatch.setattr(catalogue, "dask_client", one_worker)
    assert main(job_args(content, tmp_path / "out", "--workers", "8")) == EXIT_OK
    assert asked == [3]
    outputs = sorted((tmp_path / "out" / "photos").iterdir())
    assert len(outputs) == 3
    assert len({hashlib.sha256(path.read_bytes()).hexdigest() for path in outputs}) == 3


def test_a_second_run_into_a_locked_output_folder_is_refused(tmp_path, capsys, monkeypatch):
    photo = make_photos(tmp_path / "content", 1)[0]
    (tmp_path / "out").mkdir()
    monkeypatch.setattr(run_module, "run_photo_job", lambda *a, **k: pytest.fail("ran"))
    with FileLock(tmp_path / "out" / catalogue.LOCK_NAME):
        status = main(job_args(photo, tmp_path / "out"))
    assert status == EXIT_USAGE
    assert "another run is writing into" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [catalogue.LOCK_NAME]


def test_a_full_disk_at_metrics_json_still_prints_the_summary(tmp_path, capsys, monkeypatch):
    from helpers import images

    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not a picture")

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(images, "save_json", disk_full)
    status = main(job_args(tmp_path / "bad.png", tmp_path / "out"))
    err = capsys.readouterr().err
    assert status == EXIT_FAILED
    assert "FAILED: 1 problem(s)" in err and "bad.png" in err
    assert err.strip().splitlines()[-1] == (
        f"error: could not write {tmp_path / 'out' / 'metrics.json'}: No space left on device")
    assert "Traceback" not in err


def test_a_full_disk_at_the_manifest_fails_the_photo_not_the_run(tmp_path, capsys,
                                                                 monkeypatch):
    photo = make_photos(tmp_path / "content", 1)[0]

    def disk_full(self, row):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(catalogue.Manifest, "append", disk_full)
    status = main(job_args(photo, tmp_path / "out"))
    err = capsys.readouterr().err
    assert status == EXIT_FAILED
    assert "could not record it in" in err and "No space left on device" in err


def test_hidden_files_are_left_out_of_a_folder_and_said_so(tmp_path, capsys):
    make_photos(tmp_path / "content", 1)
    hidden = tmp_path / "content" / ".photo_hidden.png"
    hidden.write_bytes((tmp_path / "content" / "photo00.png").read_bytes())
    (tmp_path / "content" / "._photo00.png").write_bytes(b"\x00\x05\x16\x07AppleDouble")
    selection = catalogue.find_photos(tmp_path / "content")
    assert [p.name for p in selection.photos] == ["photo00.png"]
    assert [p.name for p in selection.hidden] == ["._photo00.png", ".photo_hidden.png"]
    assert main(job_args(tmp_path / "content", tmp_path / "out")) == EXIT_OK
    assert "2 hidden file(s) (names starting with '.') left out" in capsys.readouterr().out
    # Named as a file, or by a glob that starts with a dot, a hidden photo is processed.
    assert catalogue.find_photos(hidden).photos == [hidden]
    assert catalogue.find_photos(str(tmp_path / "content" / ".photo_*.png")).photos == [hidden]


def test_jpeg_aliases_and_avif_are_photos_and_heic_is_left_out_and_said_so(tmp_path, capsys):
    folder = tmp_path / "content"
    make_photos(folder, 1)
    image = np.asarray(Image.open(folder / "photo00.png").convert("RGB"))
    Image.fromarray(image).save(folder / "camera.JFIF", "JPEG")
    Image.fromarray(image).save(folder / "phone.avif", "AVIF")
    (folder / "IMG_0001.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(64))
    (folder / "._IMG_0001.HEIC").write_bytes(b"\x00\x05\x16\x07AppleDouble")
    selection = catalogue.find_photos(folder)
    assert [p.name for p in selection.photos] == ["camera.JFIF", "phone.avif", "photo00.png"]
    assert [p.name for p in selection.unreadable] == ["IMG_0001.HEIC"]
    assert main(job_args(folder, tmp_path / "out")) == EXIT_OK
    out = capsys.readouterr().out
    assert "1 HEIC/HEIF photo(s) left out (IMG_0001.HEIC)" in out and "pillow-heif" in out
    # A folder of HEIC photos only is a set-up error that says why and what to do.
    only = tmp_path / "phone"
    only.mkdir()
    (only / "a.heic").write_bytes((folder / "IMG_0001.HEIC").read_bytes())
    with pytest.raises(catalogue.JobSetupError,
                       match=r"1 HEIC/HEIF photo\(s\) are left out: .*convert them to JPEG"):
        catalogue.find_photos(only)
    # Named as a file, it is tried, and the loader's error says the same.
    from helpers.images import ImageLoadError, load_image
    with pytest.raises(ImageLoadError, match="pillow-heif plugin.*convert the photo to JPEG"):
        load_image(only / "a.heic")


def test_a_glob_selects_image_files_and_says_when_none_match(tmp_path):
    make_photos(tmp_path / "a", 2)
    make_photos(tmp_path / "b", 1)
    (tmp_path / "a" / "notes.txt").write_text("x")
    found = catalogue.find_photos(str(tmp_path / "*" / "*"))
    assert [p.relative_to(tmp_path).as_posix() for p in found.photos] == [
        "a/photo00.png", "a/photo01.png", "b/photo00.png"]
    with pytest.raises(catalogue.JobSetupError, match="no image files matching"):
        catalogue.find_photos(str(tmp_path / "*.jpg"))


def test_an_unreachable_cluster_is_one_clear_failure(four_photos, tmp_path, capsys):
    import socket

    import dask
    import distributed  # noqa: F401  its defaults enter dask's config before the set below,
    # which would otherwise remove the whole "distributed" section on exit

    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        status = main(job_args(four_photos, tmp_path, "--cluster", f"tcp://127.0.0.1:{port}"))
    captured = capsys.readouterr()
    err = captured.err
    assert "photos/s over" in captured.out and " s ()" not in captured.out   # no engine ran
    assert status == EXIT_FAILED
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port} (--cluster)" in err
    assert "(4 photo(s) not processed)" in err and "Traceback" not in err


@pytest.mark.parametrize("address", ["bogus", "tcp://scheduler-host", "foo://x:1"])
def test_a_malformed_cluster_address_is_refused_before_any_work(four_photos, tmp_path, capsys,
                                                               address):
    output = tmp_path / "out"
    assert main(job_args(four_photos, output, "--cluster", address)) == EXIT_USAGE
    err = capsys.readouterr().err
    assert f"error: --cluster {address!r} is not a Dask scheduler address" in err
    assert "like tcp://10.0.0.5:8786" in err and "Traceback" not in err
    assert not output.exists()    # nothing written: no manifest, no photos folder


def test_a_malformed_scheduler_address_in_the_environment_names_the_variable(
        four_photos, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(catalogue.SCHEDULER_ENV, "bogus")
    assert main(job_args(four_photos, tmp_path / "out")) == EXIT_USAGE
    err = capsys.readouterr().err
    assert f"error: ${catalogue.SCHEDULER_ENV} 'bogus' is not a Dask scheduler address" in err
    # a well-formed address passes the check as Dask writes it
    monkeypatch.setenv(catalogue.SCHEDULER_ENV, "10.0.0.5:8786")
    assert catalogue.scheduler_address() == "tcp://10.0.0.5:8786"
    assert catalogue.scheduler_address("tls://h:1") == "tls://h:1"
    monkeypatch.delenv(catalogue.SCHEDULER_ENV)
    assert catalogue.scheduler_address() is None


def test_an_unreadable_photo_is_said_as_load_image_says_it(tmp_path, monkeypatch):
    photo = tmp_path / "locked.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(photo)
    real = Path.read_bytes

    def refuse(self):   # as chmod 000 does for a user without root's override
        if self == photo:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    spec = catalogue.JobSpec(style_name="stripes", style_sha256="0", garment="auto",
                             method="saliency", max_side=64, save_stages=False,
                             backends=(("segmentation", "classical_parsing"),
                                       ("saliency", "person_matte")))
    report = catalogue.restyle_photo(str(photo), str(tmp_path / "out.png"),
                                     np.zeros((32, 32, 3), np.uint8), spec)
    assert report["status"] == "failed"
    assert report["error"] == (f"ImageLoadError: {photo}: cannot read the file "
                               "(Permission denied)")


def test_a_torn_manifest_line_is_ignored_and_the_next_row_starts_on_its_own_line(tmp_path):
    path = tmp_path / catalogue.MANIFEST_NAME
    path.write_text('{"input": "a", "status": "ok"}\n{"input": "b", "sta')
    manifest = catalogue.Manifest(path)
    assert list(manifest.previous) == ["a"]
    manifest.append({"input": "c", "status": "ok"})
    manifest.close()
    assert list(catalogue.read_manifest(path)) == ["a", "c"]


class _InterruptedWhileWriting(catalogue.Manifest):
    """A manifest whose row is written when Ctrl-C comes, as in a real run."""

    def append(self, row):
        super().append(row)
        os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_while_a_photo_is_recorded_acts_after_the_manifest_and_result_agree(tmp_path):
    manifest = _InterruptedWhileWriting(tmp_path / catalogue.MANIFEST_NAME)
    result = catalogue.JobResult()
    photo = tmp_path / "photo.png"
    report = {"status": "ok", "content_sha256": "ab", "files": {"x": "cd"}}
    with pytest.raises(KeyboardInterrupt):
        catalogue._finish(result, manifest, _NoBar(), photo, "ab", report, {}, "run",
                          {photo: "photo.png"}, tmp_path)
    manifest.close()
    assert list(catalogue.read_manifest(manifest.path)) == [str(photo)]
    assert [item["input"] for item in result.processed] == [str(photo)]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


class _NoBar:
    def write(self, text):
        pass

    def update(self, count):
        pass


def test_names_that_are_not_utf8_or_near_the_length_limit_work_in_folder_mode(
        four_photos, tmp_path, capsys, dask_cluster):
    content = tmp_path / "content"
    content.mkdir()
    data = (four_photos / "photo00.png").read_bytes()
    not_utf8 = os.fsdecode(b"caf\xe9.png")  # Latin-1 bytes, as old cameras and zips write
    long_name = "x" * 250 + ".png"  # 254 bytes: the temporary file's name would not fit
    for name in (not_utf8, long_name, "plain.png"):
        (content / name).write_bytes(data)
    args = job_args(content, tmp_path / "out", "--cluster", dask_cluster, "--save-stages")
    assert main(args) == EXIT_OK, capsys.readouterr().err
    names = sorted(os.listdir(tmp_path / "out" / "photos"))
    assert len(names) == 3 * 7  # each output and its six stage files
    assert os.fsdecode(b"caf\xe9_stripes.png") in names
    assert max(len(os.fsencode(name)) for name in names) <= 255 - len(".0123456789ab.tmp") - 1
    digest = hashlib.sha256(os.fsencode(content / long_name)).hexdigest()[:8]
    assert f"{'x' * 207}-{digest}_stripes.png" in names  # 228 bytes: room for the rest
    metrics = (tmp_path / "out" / "metrics.json").read_bytes().decode("utf-8")  # valid UTF-8
    inputs = {row["input"] for row in json.loads(metrics)["photos"]["processed"]}
    assert str(content / not_utf8) in inputs  # the exact name comes back (as \\udcNN)
    assert main(args) == EXIT_OK  # the manifest gives back the same paths: all skipped
    assert "0 done, 3 skipped" in capsys.readouterr().out


def test_dasks_own_variable_points_the_job_at_an_existing_cluster(four_photos, reference,
                                                                   tmp_path, capsys,
                                                                   monkeypatch, dask_cluster):
    monkeypatch.setenv(catalogue.SCHEDULER_ENV, dask_cluster)
    assert main(job_args(four_photos, tmp_path)) == EXIT_OK
    assert f"2 worker(s) at {dask_cluster}" in capsys.readouterr().out
    assert digests(tmp_path / "photos") == reference
