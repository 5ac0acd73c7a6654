"""Hostile input (issue 17 items 1-3): files and trees made by someone else, read by lint and doctor --from-dir.

Every case runs the CLI as a subprocess under a 1 GiB address-space cap and a time cap, and must end in a
one-line error with exit 2 naming the file, or in a correct result: never exit 70, a traceback, a hang, or
content read from outside the directory it was given. No cluster is needed: these are the readers.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from doctor_support import OFFLINE_LOG_TEXT, add_job, cluster_snapshot, lmevaljob, pod, with_status

from lmeval_setup.doctor.writer import write_dir

MEMORY_CAP = 1 << 30  # bytes of address space for the command under test
TIME_CAP = 60  # seconds; every case takes a few at most, even on a loaded 2-core machine
OUTSIDE = "OUTSIDE-THE-ROOT-7f3a9c"
BOMB = "\n".join(
    [f"l0: &l0 [{', '.join(['x'] * 10)}]"]
    + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 9)]
) + "\n"
DEEP = b"- " * 20_000 + b"x\n"  # 20,000 nested block sequences on one line
MANIFEST = """\
apiVersion: trustyai.opendatahub.io/v1alpha1
kind: LMEvalJob
metadata: {name: job, namespace: demo}
spec:
  model: local-completions
  modelArgs:
    - {name: model, value: granite}
    - {name: base_url, value: 'http://granite-predictor:8080/v1/completions'}
    - {name: tokenizer, value: ibm-granite/granite-3.1-8b-instruct}
  taskList: {taskNames: [arc_easy]}
"""


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def _without_root_powers() -> list[str]:
    """A prefix that makes permission bits bind: nothing as a user, setpriv dropping root's file overrides."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: permission bits cannot be made to bind")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-dac_override,-dac_read_search"]


def cli(cwd: Path, *args: str | Path, stdin: bytes | None = None,
        unprivileged: bool = False) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LMEVAL_DEBUG", "KUBECONFIG")}
    prefix = _without_root_powers() if unprivileged else []
    proc = subprocess.run([*prefix, sys.executable, "-m", "lmeval_setup.cli.main", *map(str, args)], input=stdin,
                          capture_output=True, timeout=TIME_CAP, cwd=cwd, env={**env, "NO_COLOR": "1"},
                          preexec_fn=_cap_memory)
    out = subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode("utf-8", "replace"),
                                      proc.stderr.decode("utf-8", "replace"))
    assert out.returncode != 70 and "Traceback" not in out.stderr and "MemoryError" not in out.stderr, out.stderr
    assert OUTSIDE not in out.stdout + out.stderr, "content from outside the given root was shown"
    return out


def refused(proc: subprocess.CompletedProcess[str], file: str, why: str) -> None:
    """Exit 2 and one error line on stderr that names the file and says why."""
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert len(errors) == 1 and file in errors[0] and why.lower() in errors[0].lower(), proc.stderr


# -- lint ----------------------------------------------------------------------------------------------
def test_lint_refuses_devices_fifos_and_links_to_them(tmp_path: Path) -> None:
    refused(cli(tmp_path, "lint", "/dev/zero"), "/dev/zero", "character device")
    fifo = tmp_path / "job.yaml"
    os.mkfifo(fifo)
    refused(cli(tmp_path, "lint", fifo), "job.yaml", "FIFO")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "zero.yaml").symlink_to("/dev/zero")
    (tree / "good.yaml").write_text(MANIFEST)
    proc = cli(tmp_path, "lint", tree)
    refused(proc, "zero.yaml", "not a regular file")
    assert "in 1 checked" in proc.stdout, proc.stdout  # the good file beside it was still linted


def test_lint_names_symlink_loops_given_found_or_listed_by_a_kustomization(tmp_path: Path) -> None:
    """A link to itself, given, met in a directory walk, or named by a kustomization (a resource, a component, a
    patch): one error line naming it, and the good file beside it still linted. Path.resolve() raised
    RuntimeError on a loop: the walk and the kustomize build ended in an internal error (exit 70), and a loop
    given by name was reported as missing."""
    (tmp_path / "loop.yaml").symlink_to("loop.yaml")
    refused(cli(tmp_path, "lint", "loop.yaml"), "loop.yaml", "symbolic links")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "loop.yaml").symlink_to("loop.yaml")
    (tree / "good.yaml").write_text(MANIFEST)
    proc = cli(tmp_path, "lint", "tree")
    refused(proc, "loop.yaml", "symbolic links")
    assert "in 1 checked" in proc.stdout, proc.stdout
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "job.yaml").write_text(MANIFEST)
    (overlay / "a").symlink_to("b")
    (overlay / "b").symlink_to("a")
    for listing in ("resources: [job.yaml, a]", "resources: [job.yaml]\ncomponents: [a]",
                    "resources: [job.yaml]\npatches: [{path: a}]"):
        (overlay / "kustomization.yaml").write_text(listing + "\n")
        for given in ("overlay", "overlay/kustomization.yaml"):
            proc = cli(tmp_path, "lint", given)
            refused(proc, "a", "symbolic links")


@pytest.mark.parametrize(("name", "content", "why"), [
    ("bomb.yaml", BOMB.encode(), "alias"),
    ("deep.yaml", DEEP, "nest"),
    ("flow.yaml", b"[" * 20_000 + b"]" * 20_000, "nesting"),
    ("latin1.yaml", MANIFEST.replace("granite}", "gr\xe4nite}").encode("latin-1"), "not UTF-8"),
    ("binary.yaml", b"\x00\x01\x02" * 100, "binary"),
])
def test_lint_refuses_pathological_yaml(tmp_path: Path, name: str, content: bytes, why: str) -> None:
    (tmp_path / name).write_bytes(content)
    refused(cli(tmp_path, "lint", name), name, why)


def test_lint_caps_files_and_stdin(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as out:  # sparse: 2 GB claimed, nothing written
        out.truncate(2 << 30)
    refused(cli(tmp_path, "lint", big), "big.yaml", "limit")
    refused(cli(tmp_path, "lint", "-", stdin=b"# padding\n" * 700_000), "-", "limit")


def test_lint_walks_a_directory_tree_deeper_than_the_recursion_limit(tmp_path: Path) -> None:
    (tmp_path / "tree").mkdir()
    fd = os.open(tmp_path / "tree", os.O_RDONLY)
    for _ in range(1500):  # relative to a descriptor: pathlib's mkdir(parents=True) recurses too
        os.mkdir("d", dir_fd=fd)
        fd, parent = os.open("d", os.O_RDONLY, dir_fd=fd), fd
        os.close(parent)
    with os.fdopen(os.open("job.yaml", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "w") as out:
        out.write(MANIFEST)
    os.close(fd)
    try:
        proc = cli(tmp_path, "lint", "tree")
        assert proc.returncode in (0, 1) and "in 1 checked" in proc.stdout, proc.stdout + proc.stderr
    finally:  # bottom-up, by relative paths: pytest's own cleanup (shutil.rmtree) recurses and would fail
        top = os.open(tmp_path, os.O_RDONLY)
        os.unlink("tree/" + "d/" * 1500 + "job.yaml", dir_fd=top)
        for depth in range(1500, 0, -1):
            os.rmdir("tree/" + "/".join(["d"] * depth), dir_fd=top)
        os.close(top)


def test_kustomize_reads_no_file_outside_its_root(tmp_path: Path) -> None:
    """kustomize's load restrictor: a resource or patch *file* must be in or below the kustomization;
    bases elsewhere are fine. The old builder read `../../secret.yaml` silently."""
    outside = tmp_path / "secret.yaml"
    outside.write_text(MANIFEST.replace("name: job", f"name: {OUTSIDE.lower()}"))
    base = tmp_path / "base"
    base.mkdir()
    (base / "job.yaml").write_text(MANIFEST)
    (base / "kustomization.yaml").write_text("resources: [job.yaml]\n")
    overlay = tmp_path / "repo" / "overlay"
    overlay.mkdir(parents=True)
    (overlay / "linked.yaml").symlink_to(outside)
    for entry in ("../../secret.yaml", "linked.yaml"):
        (overlay / "kustomization.yaml").write_text(f"resources: [../../base, {entry}]\n")
        proc = cli(tmp_path, "lint", overlay)
        refused(proc, entry, "not in or below the kustomization root")
        assert "in 1 checked" in proc.stdout, proc.stdout  # the base (a directory elsewhere) is still built
    (overlay / "kustomization.yaml").write_text("resources: [../../base]\npatches: [{path: ../../secret.yaml}]\n")
    refused(cli(tmp_path, "lint", overlay), "secret.yaml", "not in or below the kustomization root")


# -- doctor --from-dir ---------------------------------------------------------------------------------
def gather(path: Path, *, trustyai: str = "Managed") -> Path:
    """A must-gather-like tree: --collect output of a cluster with one failed job, its pod and log."""
    snap = cluster_snapshot("rhoai-2.22", trustyai=trustyai)
    add_job(snap, with_status(lmevaljob(), state="Complete", reason="Failed", message="exit status 1"),
            pod(), OFFLINE_LOG_TEXT)
    return write_dir(snap, path)


def pods_yaml(tree: Path) -> Path:
    return tree / "namespaces" / "demo" / "pods" / "evaljob" / "evaljob.yaml"


def main_log(tree: Path) -> Path:
    return tree / "namespaces" / "demo" / "pods" / "evaljob" / "main" / "main" / "logs" / "current.log"


def meta(tree: Path) -> Path:
    return tree / "lmeval-setup-snapshot.yaml"


def _replace(path: Path, content: bytes | Callable[[Path], None]) -> None:
    path.unlink()
    if callable(content):
        content(path)
    else:
        path.write_bytes(content)


def _items(count: int) -> bytes:
    items = "".join(f"- {{apiVersion: v1, kind: Pod, metadata: {{name: p{i}, namespace: demo}}}}\n"
                    for i in range(count))
    return f"apiVersion: v1\nkind: List\nitems:\n{items}".encode()


def _sparse(size: int) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        with path.open("wb") as out:
            out.truncate(size)
    return make


FROM_DIR_REFUSED: dict[str, tuple[Callable[[Path], Path], bytes | Callable[[Path], None], str]] = {
    "alias-bomb": (pods_yaml, BOMB.encode(), "alias"),
    "fifo": (pods_yaml, lambda p: os.mkfifo(p), "FIFO"),
    "100k-items": (pods_yaml, _items(100_000), "more than 20000 items"),
    "deep-nesting": (pods_yaml, DEEP, "nest"),
    "sparse-2gb-yaml": (pods_yaml, _sparse(2 << 30), "limit"),
    "non-utf8-object": (pods_yaml, "metadata: {name: caf\xe9}\n".encode("latin-1"), "not UTF-8"),
    "malformed-meta": (meta, b"served: 5\n", "snapshot record"),
    "meta-not-a-mapping": (meta, b"- 1\n- 2\n", "snapshot record"),
    "meta-bad-collected": (meta, b"collected: [[a]]\n", "snapshot record"),
    "non-utf8-meta": (meta, b"notes: ['\xff\xfe\xfa']\nserved: {}\n", "not UTF-8"),
    "meta-is-a-fifo": (meta, lambda p: os.mkfifo(p), "FIFO"),
}


@pytest.mark.parametrize("case", sorted(FROM_DIR_REFUSED))
def test_from_dir_refuses_hostile_files_naming_them(tmp_path: Path, case: str) -> None:
    where, content, why = FROM_DIR_REFUSED[case]
    tree = gather(tmp_path / "gather")
    target = where(tree)
    _replace(target, content)
    refused(cli(tmp_path, "doctor", "--from-dir", tree), target.name, why)


def test_unreadable_files_and_directories_are_one_line_naming_them(tmp_path: Path) -> None:
    (tmp_path / "job.yaml").write_text(MANIFEST)
    (tmp_path / "job.yaml").chmod(0)
    refused(cli(tmp_path, "lint", "job.yaml", unprivileged=True), "job.yaml", "permission denied")
    cases = ((pods_yaml, "cannot read: permission denied"), (meta, "cannot read: permission denied"),
             (lambda t: t / "namespaces" / "demo" / "pods", "cannot list: permission denied"))
    for i, (where, why) in enumerate(cases):
        tree = gather(tmp_path / f"gather-{i}")
        where(tree).chmod(0)
        refused(cli(tmp_path, "doctor", "--from-dir", tree, unprivileged=True), where(tree).name, why)


def test_from_dir_reads_only_the_tail_of_a_sparse_2gb_log(tmp_path: Path) -> None:
    tree = gather(tmp_path / "gather")
    log = main_log(tree)
    with log.open("r+b") as out:  # 2 GB of holes, then the exception the doctor needs
        out.truncate(0)
        out.seek(2 << 30)
        out.write(OFFLINE_LOG_TEXT.encode())
    proc = cli(tmp_path, "doctor", "--from-dir", tree, "-o", "json")
    assert proc.returncode == 1 and "OfflineModeIsEnabled" in proc.stdout, proc.stdout + proc.stderr


def test_from_dir_never_follows_a_link_out_of_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "current.log").write_text(f"Traceback (most recent call last):\nValueError: {OUTSIDE}\n")
    (outside / "pods.yaml").write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": OUTSIDE.lower(), "namespace": "demo"}, "status": {"message": OUTSIDE}}))
    tree = gather(tmp_path / "gather")
    _replace(main_log(tree), lambda p: p.symlink_to(outside / "current.log"))
    (tree / "namespaces" / "demo" / "core").mkdir(exist_ok=True)
    (tree / "namespaces" / "demo" / "core" / "linked").symlink_to(outside)  # a directory link out
    (tree / "namespaces" / "elsewhere").symlink_to(outside, target_is_directory=True)
    (tree / "namespaces" / "demo" / "core" / "events.yaml").symlink_to("/dev/zero")
    proc = cli(tmp_path, "doctor", "--from-dir", tree, "-o", "json")
    assert proc.returncode in (0, 1), proc.stderr
    for skipped in ("current.log", "linked", "elsewhere", "events.yaml"):
        assert f"{skipped}: skipped, a symbolic link to outside" in proc.stdout, proc.stdout


def test_from_dir_of_the_filesystem_root_ends_quickly_with_rc_2(tmp_path: Path) -> None:
    proc = cli(tmp_path, "doctor", "--from-dir", "/")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("error: --from-dir /: "), proc.stderr


def test_several_gathers_newest_alone_is_read_and_named(tmp_path: Path) -> None:
    """must-gather.local.9 (old: TrustyAI Removed) and .10 (new: Managed). Text order puts .10 first; the
    old code merged both and the old one won (a wrong LME101)."""
    parent = tmp_path / "case-01234"
    for name, state, stamp in (("must-gather.local.9", "Removed", "2026-11-27 09:00:00"),
                               ("must-gather.local.10", "Managed", "2026-11-28 11:00:00")):
        root = gather(parent / name / "quay-io-rhoai-must-gather", trustyai=state)
        meta(root).unlink()  # a real must-gather has no record of ours, only its timestamp file
        (parent / name / "timestamp").write_text(f"{stamp}.1 +0000 UTC m=+0.1\n{stamp}.9 +0000 UTC m=+60.1\n")
    proc = cli(tmp_path, "doctor", "--from-dir", parent, "-o", "json")
    assert proc.returncode in (0, 1), proc.stderr
    assert "LME101" not in proc.stdout, proc.stdout
    assert "read the newest, must-gather.local.10" in proc.stdout and "must-gather.local.9" in proc.stdout
    # Each alone gives its own answer: the old one is Removed.
    shutil.rmtree(parent / "must-gather.local.10")
    proc = cli(tmp_path, "doctor", "--from-dir", parent, "-o", "json")
    assert "LME101" in proc.stdout, proc.stdout


# -- the other files a user hands the tool -------------------------------------------------------------
def test_kubeconfig_that_is_a_fifo_or_a_device_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "kubeconfig"
    os.mkfifo(fifo)
    for config, why in ((fifo, "FIFO"), (Path("/dev/zero"), "character device")):
        proc = cli(tmp_path, "doctor", "--kubeconfig", config)
        assert proc.returncode == 3 and proc.stderr.count("\n") == 1, proc.stderr  # 3: a wrong kubeconfig
        assert proc.stderr.startswith(f"error: kubeconfig {config}: ") and why in proc.stderr, proc.stderr


@pytest.mark.parametrize(("flag", "content", "why"), [
    ("--from-file", BOMB.encode(), "alias"),
    ("--from-file", None, "FIFO"),
    ("--spec", DEEP, "nest"),
    ("--spec", None, "FIFO"),
])
def test_provision_and_scaffold_inputs_are_bounded(tmp_path: Path, flag: str, content: bytes | None,
                                                   why: str) -> None:
    source = tmp_path / "input.yaml"
    if content is None:
        os.mkfifo(source)
    else:
        source.write_bytes(content)
    args = (("provision", "-n", "ci", "--render", "--from-file", source) if flag == "--from-file"
            else ("scaffold", tmp_path / "out", "--spec", source))
    refused(cli(tmp_path, *args), f"{flag} {source}", why)


# -- the files the tool writes -------------------------------------------------------------------------
SCAFFOLD = ("scaffold", "out", "-n", "ci", "--tasks", "arc_easy", "--tokenizer", "t",
            "--model", "name=a,url=http://a:8000/v1/completions")


@pytest.mark.parametrize("kind", ["link-out", "dangling-link", "link-loop", "fifo", "directory"])
def test_scaffold_never_writes_through_a_link_nor_blocks_on_a_fifo(tmp_path: Path, kind: str) -> None:
    """A name in the output directory that is not a regular file is refused, with --force too, before anything is
    written. The old writer wrote through a dangling link (creating its target outside the directory) without
    --force, overwrote a link's target with it, blocked forever on a FIFO and ended in exit 70 on a loop."""
    out, target = tmp_path / "out", tmp_path / "elsewhere.yaml"
    out.mkdir()
    if kind == "link-out":
        target.write_text("# mine\n")
    name = out / "kustomization.yaml"
    {"link-out": lambda: name.symlink_to(target), "dangling-link": lambda: name.symlink_to(target),
     "link-loop": lambda: name.symlink_to(name.name), "fifo": lambda: os.mkfifo(name),
     "directory": name.mkdir}[kind]()
    for force in ((), ("--force",)):
        refused(cli(tmp_path, *SCAFFOLD, *force), "out/kustomization.yaml", "not a regular file")
        assert sorted(p.name for p in out.iterdir()) == ["kustomization.yaml"], "written before the refusal"
    assert (target.read_text() == "# mine\n") if kind == "link-out" else not target.exists()


def test_scaffold_output_directory_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    refused(cli(tmp_path, *SCAFFOLD[:1], "file/out", *SCAFFOLD[2:]), "file/out", "not a directory")
    (tmp_path / "locked").mkdir(mode=0o555)
    refused(cli(tmp_path, *SCAFFOLD[:1], "locked/out", *SCAFFOLD[2:], unprivileged=True), "locked/out",
            "permission denied")


def test_scaffold_replaces_regular_files_whole_with_force_only(tmp_path: Path) -> None:
    first = cli(tmp_path, *SCAFFOLD)
    assert first.returncode == 0, first.stderr
    (tmp_path / "out" / "lmevaljob-a.yaml").write_text("# edited\n")
    refused(cli(tmp_path, *SCAFFOLD), "out/namespace.yaml", "exists")
    assert (tmp_path / "out" / "lmevaljob-a.yaml").read_text() == "# edited\n"
    again = cli(tmp_path, *SCAFFOLD, "--force")
    assert again.returncode == 0, again.stderr
    assert "kind: LMEvalJob" in (tmp_path / "out" / "lmevaljob-a.yaml").read_text()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "kustomization.yaml", "lmevaljob-a.yaml", "namespace.yaml"], "a temporary file was left behind"


@pytest.mark.parametrize("kind", ["fifo", "link"])
def test_provision_junit_that_is_not_a_regular_file_is_refused_before_the_cluster_is_touched(
        tmp_path: Path, kind: str) -> None:
    """Checked with the flags: no kubeconfig is read (none exists here), so nothing was applied either."""
    junit = tmp_path / "gates.xml"
    os.mkfifo(junit) if kind == "fifo" else junit.symlink_to(tmp_path / "elsewhere.xml")
    proc = cli(tmp_path, "provision", "-n", "ci", "--job-name", "j", "--model-type", "local-completions",
               "--base-url", "http://a/v1/completions", "--tokenizer", "t", "--tasks", "arc_easy", "--wait",
               "--junit", junit, "--kubeconfig", tmp_path / "no-such-kubeconfig")
    refused(proc, "gates.xml", "not a regular file")
    assert not (tmp_path / "elsewhere.xml").exists()


def test_lint_fix_in_a_directory_it_cannot_write_is_one_line(tmp_path: Path) -> None:
    """The fix is written beside the file and renamed over it: in a read-only directory that failed with an
    internal error (exit 70)."""
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "job.yaml").write_text(MANIFEST.replace("/v1/completions", ""))  # LME002: a fixable endpoint path
    locked.chmod(0o555)
    proc = cli(tmp_path, "lint", "--fix", "locked/job.yaml", unprivileged=True)
    refused(proc, "locked/job.yaml", "permission denied")
    assert (locked / "job.yaml").read_text() == MANIFEST.replace("/v1/completions", "")


# -- names that hold control characters ----------------------------------------------------------------
def test_a_file_name_with_an_escape_sequence_is_shown_escaped_in_every_format(tmp_path: Path) -> None:
    """A file named with an escape sequence reached the terminal (or a CI log) raw through the report on stdout,
    and made the JUnit report unparsable XML."""
    import json
    import xml.etree.ElementTree as ET

    hostile = "job\x1b[2J\x07.yaml"
    (tmp_path / hostile).write_text(MANIFEST)  # a job with findings: its file name is in every finding
    (tmp_path / "broken\x1b[31m.yaml").write_text("a: [\n")  # an input error naming it
    text = cli(tmp_path, "lint", ".")
    assert "\x1b" not in text.stdout + text.stderr and "\x07" not in text.stdout, text.stdout + text.stderr
    assert "job\\x1b[2J\\x07.yaml:4:1" in text.stdout and "broken\\x1b[31m.yaml" in text.stderr
    junit = ET.fromstring(cli(tmp_path, "lint", ".", "-o", "junit").stdout.split("\n", 1)[1])
    assert any("job\\x1b[2J" in (case.get("classname") or "") for case in junit.iter("testcase"))
    report = json.loads(cli(tmp_path, "lint", ".", "-o", "json").stdout)  # JSON escapes them itself
    assert any(f["file"]["path"].endswith(hostile) for f in report["findings"])
    # the notes on stderr too: a linked manifest is not rewritten, and the note names it
    (tmp_path / "fixable.yaml").write_text(MANIFEST.replace("/v1/completions", ""))
    (tmp_path / "link\x1b]0;owned\x07.yaml").symlink_to("fixable.yaml")
    fixed = cli(tmp_path, "lint", "--fix", "link\x1b]0;owned\x07.yaml")
    assert "note: link\\x1b]0;owned\\x07.yaml: not fixed: a symbolic link" in fixed.stderr, fixed.stderr
    assert "\x1b" not in fixed.stderr


LONG_NAME = "n" * 300  # NAME_MAX is 255: every lookup of it fails with ENAMETOOLONG, which pathlib raises


@pytest.mark.parametrize("args", [
    ("lint", f"{LONG_NAME}.yaml"),
    ("lint", "overlay"),  # a kustomization naming it
    ("doctor", "--from-dir", LONG_NAME),
    ("sandbox", "status", "--state-dir", LONG_NAME),
    ("sandbox", "down", "--state-dir", LONG_NAME),
    ("results", "-n", "ns", "--plot", f"{LONG_NAME}/x.png"),
    ("doctor", "--collect", LONG_NAME),
], ids=["lint", "kustomization", "doctor", "sandbox-status", "sandbox-down", "plot", "collect"])
def test_a_name_too_long_is_one_line_not_an_internal_error(tmp_path: Path, args: tuple[str, ...]) -> None:
    """Path.is_dir(), is_file() and exists() raise OSError for a name too long, where they return False for a
    missing one: each of these ended in an internal error (exit 70)."""
    (tmp_path / "overlay").mkdir()
    (tmp_path / "overlay" / "kustomization.yaml").write_text(f"resources: [{LONG_NAME}.yaml]\n")
    proc = cli(tmp_path, *args)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and len(errors) == 1 and "file name too long" in errors[0], proc.stderr
