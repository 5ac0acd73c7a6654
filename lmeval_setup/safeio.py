"""Bounded reading (and private writing) of every file a user hands the tool.

lint reads pull requests from strangers and doctor --from-dir reads tarballs someone else made, so every
input file goes through here, and nothing else in the package opens a user's file:
- only regular files are opened (a FIFO would block, /dev/zero never ends, a tape device rewinds on
  open): the type is checked before opening and again on the open descriptor;
- every read is capped (`read_text`), logs are read from the end (`read_tail`: a 2 GB sparse log costs
  one seek), stdin is capped too (`read_stdin`);
- YAML is built from the parser's event stream (`load_yaml_all`), which counts nodes with aliases
  expanded ("billion laughs") and bounds nesting before anything large exists in memory;
- undecodable bytes, permission errors and all of the above become one `UnreadableInput` (exit 2)
  whose one line names the file.

Leaf module: it imports only the exit-code table (lmeval_setup.errors), so any layer may use it.
"""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import KW_ONLY, dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from lmeval_setup.errors import UsageError

if TYPE_CHECKING:
    import yaml

MiB = 1024 * 1024
STDIN = "-"
_READ_CHUNK = 1024 * 1024


class UnreadableInput(UsageError):
    """An input refused or unreadable: `file[:line[:column]]: why`, exit 2. (`why`, the sentence, is not
    LmevalError.reason, the stable word the Ansible modules report.)"""

    def __init__(self, file: str, why: str, line: int | None = None, column: int | None = None) -> None:
        self.file, self.why, self.line, self.column = file, why, line, column
        where = ":".join(str(p) for p in (file, line, column) if p is not None)
        super().__init__(f"{where}: {why}")


class MalformedYaml(UnreadableInput):
    """Readable text that is not YAML: some callers skip such a file with a note instead of stopping."""


@dataclass(frozen=True)
class YamlLimits:
    """What one YAML stream may hold. Nodes count every alias expansion: what a consumer walking the data
    (a sanitizer, a rule) would visit."""

    max_nodes: int = 200_000
    max_depth: int = 200
    _: KW_ONLY
    max_documents: int = 10_000
    max_sequence: int = 200_000  # items of one sequence (a List's items): refused early, while streaming


# -- files -------------------------------------------------------------------------------------------
def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def os_error_text(exc: OSError) -> str:
    """The system's reason, as the one-line errors say it ("file name too long", "permission denied")."""
    return exc.strerror.lower() if exc.strerror else str(exc)


def _os_reason(exc: OSError) -> str:
    return "cannot read: " + os_error_text(exc)


def _limit_text(limit: int) -> str:
    return f"{limit // MiB} MiB" if limit >= MiB and limit % MiB == 0 else f"{limit} bytes"


def _open_regular(path: str | Path, display: str) -> tuple[BinaryIO, int]:
    """Open a regular file (symlinks followed), never anything else; returns the file and its size."""
    try:
        before = os.stat(path)
        if not stat.S_ISREG(before.st_mode):
            raise UnreadableInput(display, f"{_kind(before.st_mode)}, not a regular file: refused")
        # O_NONBLOCK: if the path was swapped for a FIFO since the stat, open returns instead of blocking.
        flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(path, flags)
    except OSError as exc:
        raise UnreadableInput(display, _os_reason(exc)) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise UnreadableInput(display, f"{_kind(st.st_mode)}, not a regular file: refused")
    return os.fdopen(fd, "rb"), st.st_size


def _read_capped(stream: BinaryIO, limit: int, display: str) -> bytes:
    """At most `limit` bytes; more (a file growing, a /proc file claiming size 0) is refused."""
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(min(_READ_CHUNK, limit + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise UnreadableInput(display, f"larger than the {_limit_text(limit)} limit: refused")


def read_bytes(path: str | Path, *, limit: int, display: str | None = None) -> bytes:
    shown = display or str(path)
    stream, size = _open_regular(path, shown)
    with stream:
        if size > limit:
            raise UnreadableInput(shown, f"file is {size} bytes, larger than the {_limit_text(limit)} limit: refused")
        try:
            return _read_capped(stream, limit, shown)
        except OSError as exc:
            raise UnreadableInput(shown, _os_reason(exc)) from None


def read_text(path: str | Path, *, limit: int, display: str | None = None) -> str:
    """A whole text file, at most `limit` bytes, strictly decoded (UTF-8, or UTF-16 with a BOM)."""
    shown = display or str(path)
    return decode(shown, read_bytes(path, limit=limit, display=shown))


def read_stdin(*, limit: int, display: str = STDIN, stream: BinaryIO | None = None) -> str:
    source = stream if stream is not None else sys.stdin.buffer
    try:
        return decode(display, _read_capped(source, limit, display))
    except OSError as exc:
        raise UnreadableInput(display, _os_reason(exc)) from None


def read_tail(path: str | Path, *, max_bytes: int, display: str | None = None) -> str:
    """The last `max_bytes` of a log, from its first complete line; stray bytes become U+FFFD.

    A log is evidence, not structure: one bad byte must not hide the exception after it. NULs (a sparse
    or truncated file) are dropped.
    """
    shown = display or str(path)
    stream, size = _open_regular(path, shown)
    with stream:
        try:
            start = max(0, size - max_bytes)
            stream.seek(start)
            raw = _read_upto(stream, max_bytes)
        except OSError as exc:
            raise UnreadableInput(shown, _os_reason(exc)) from None
    if start > 0:
        cut = raw.find(b"\n")
        raw = raw[cut + 1:] if cut >= 0 else b""
    return raw.replace(b"\x00", b"").decode("utf-8", errors="replace")


def _read_upto(stream: BinaryIO, limit: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while total < limit:
        chunk = stream.read(min(_READ_CHUNK, limit - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def decode(display: str, raw: bytes) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            raise UnreadableInput(display, "not valid UTF-16 text") from None
    if b"\x00" in raw[:8192]:
        raise UnreadableInput(display, "binary file (contains NUL bytes), not text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableInput(display, f"not UTF-8 text (invalid byte at offset {exc.start})") from None


def real_path(path: Path) -> Path:
    """`path` absolute with every symlink resolved, never raising: a symlink loop stays as it is, for the read
    that follows to refuse by name (Path.resolve() raises RuntimeError on a loop before Python 3.13)."""
    return Path(os.path.realpath(path))


def is_dir(path: Path) -> bool:
    """Path.is_dir() that never raises: a name too long or a denied search permission is False too (pathlib
    raises those), for the caller's own one-line error; why_missing() says which."""
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def is_file(path: Path) -> bool:
    """Path.is_file() that never raises (see is_dir)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def why_missing(path: Path, default: str) -> str:
    """Why `path` is not there to read: `default` when it does not exist, else the system's reason (a symlink
    loop, a denied search permission), so a loop is not reported as a missing file."""
    try:
        os.stat(path)
    except FileNotFoundError:
        return default
    except OSError as exc:
        return _os_reason(exc)
    return default


def within(root: Path, path: Path) -> bool:
    """Whether `path`, every symlink resolved, is `root` or below it (`root` already resolved)."""
    try:
        path.resolve().relative_to(root)
    except (ValueError, OSError, RuntimeError):  # outside, unreadable, or a symlink loop
        return False
    return True


# -- written files -----------------------------------------------------------------------------------
class UnwritableOutput(UsageError):
    """An output path refused or unwritable: `path: why`, exit 2."""


def _existing_kind(path: Path) -> str | None:
    """What is at `path` without following a link: None when nothing (or no directory above it yet)."""
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise UnwritableOutput(f"{path}: cannot write: {os_error_text(exc)}") from None
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "a regular file" if stat.S_ISREG(mode) else _kind(mode)


def check_writable(path: Path, *, replace: bool) -> None:
    """Refuse before anything is written: an existing name unless `replace`, and anything but a regular file
    even then (a link would be written through to its target, a FIFO would block the write)."""
    kind = _existing_kind(path)
    if kind is None:
        return
    if kind != "a regular file":
        raise UnwritableOutput(f"{path}: {kind}, not a regular file: refused (only regular files are replaced)")
    if not replace:
        raise UnwritableOutput(f"{path} exists", hint="pass --force to overwrite")


def write_atomic(path: Path, content: str | bytes, *, replace: bool) -> None:
    """`path` holds `content` whole, or is left as it was: written to a new file beside it, then renamed over the
    name, which replaces the name itself, never what a link names. A replaced file keeps its mode; a new one gets
    0666 less the umask."""
    check_writable(path, replace=replace)
    try:
        mode: int | None = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = None  # nothing there yet
    data = content.encode("utf-8") if isinstance(content, str) else content
    # Named after the file (a leftover of a SIGKILL says whose it is), within NAME_MAX whatever the name's length.
    temporary = path.with_name(f".{path.name[:200]}.{os.urandom(4).hex()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(temporary, flags, 0o666)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                if mode is not None:
                    os.fchmod(out.fileno(), mode)
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise UnwritableOutput(f"{path}: cannot write: {os_error_text(exc)}") from None


def make_dirs(path: Path) -> None:
    """mkdir -p, an OSError made one line (a file in the way, no permission)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UnwritableOutput(f"{path}: cannot create the directory: {os_error_text(exc)}") from None


# -- private files -----------------------------------------------------------------------------------
PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def write_private(path: Path, text: str) -> None:
    """Create a new file readable by its owner only; an existing file or symlink there is refused."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def make_private_dirs(path: Path, top: Path) -> None:
    """mkdir -p from `top` (which exists) down to `path`, each new directory 0700, never through a symlink."""
    relative = path.relative_to(top)
    current = top
    for part in relative.parts:
        current = current / part
        try:
            os.mkdir(current, PRIVATE_DIR_MODE)
        except FileExistsError:
            if current.is_symlink() or not current.is_dir():
                raise NotADirectoryError(f"{current} exists and is not a directory") from None


# -- YAML --------------------------------------------------------------------------------------------
@cache
def _loader() -> type[Any]:
    """PyYAML's fastest safe loader, imported when a YAML text is first read: a cold `doctor -n NS` reads
    none (its kubeconfig is lmeval_setup.blockyaml's), and PyYAML's import is ~6-9 ms of its CPU."""
    try:  # libyaml's parser is ~10x faster; fall back to pure Python where it is missing
        from yaml import CSafeLoader
    except ImportError:  # pragma: no cover - depends on the PyYAML build
        from yaml import SafeLoader

        return SafeLoader
    return CSafeLoader


def load_yaml_all(text: str, display: str, limits: YamlLimits = YamlLimits()) -> list[Any]:
    """Every document of a YAML stream as plain data (what yaml.safe_load_all gives), bounded.

    Timestamps stay strings (as the API server sends them); unknown tags give the scalar's text.
    """
    return load_yaml_all_counted(text, display, limits)[0]


def load_yaml_all_counted(text: str, display: str, limits: YamlLimits = YamlLimits()) -> tuple[list[Any], int]:
    """load_yaml_all, and how many nodes it built (aliases counted per use): for budgets over many files."""
    import yaml

    builder = _EventBuilder(display, limits)
    try:
        for event in yaml.parse(text, Loader=_loader()):
            builder.feed(event)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        raise MalformedYaml(display, f"YAML syntax error: {problem}", *((mark.line + 1, mark.column + 1)
                                                                        if mark else ())) from None
    except yaml.YAMLError as exc:
        raise MalformedYaml(display, f"YAML error: {str(exc).splitlines()[0] if str(exc) else 'invalid'}") from None
    except RecursionError:
        raise UnreadableInput(display, "YAML nesting too deep") from None
    return builder.documents, builder.count


def load_yaml(text: str, display: str, limits: YamlLimits = YamlLimits()) -> Any:
    """The single document of a stream (None when empty); several documents are refused."""
    documents = load_yaml_all(text, display, limits)
    if len(documents) > 1:
        raise UnreadableInput(display, f"expected one YAML document, found {len(documents)}")
    return documents[0] if documents else None


_NO_KEY = object()
_MERGE = object()
_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"


class _Frame:
    __slots__ = ("anchor", "container", "key", "merges", "start")

    def __init__(self, container: Any, anchor: str | None, start: int) -> None:
        self.container = container
        self.anchor = anchor
        self.start = start
        self.key: Any = _NO_KEY
        self.merges: list[Any] = []


class _EventBuilder:
    """Plain data from parser events, with an iterative stack (no recursion) and running limits."""

    def __init__(self, display: str, limits: YamlLimits) -> None:
        self.display = display
        self.limits = limits
        self.documents: list[Any] = []
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.count = 0
        self.root: Any = None
        self.resolver = _loader()("")  # resolves plain scalars' implicit tags, constructs ints/floats/bools
        self.resolver.dispose()

    def fail(self, reason: str, event: yaml.Event) -> UnreadableInput:
        mark = event.start_mark
        return UnreadableInput(self.display, reason, *((mark.line + 1, mark.column + 1) if mark else ()))

    def grow(self, nodes: int, event: yaml.Event) -> None:
        self.count += nodes
        if self.count > self.limits.max_nodes:
            raise self.fail(f"more than {self.limits.max_nodes} YAML nodes with aliases expanded "
                            "(an alias bomb, or far larger than the tool reads): refused", event)

    def feed(self, event: yaml.Event) -> None:
        import yaml  # loaded by _loader() before any event exists: a look-up in sys.modules

        if isinstance(event, yaml.ScalarEvent):
            self.grow(1, event)
            self.attach(self.scalar(event), event.anchor, 1, event)
        elif isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            if len(self.stack) >= self.limits.max_depth:
                raise self.fail(f"YAML nested deeper than {self.limits.max_depth} levels: refused", event)
            self.grow(1, event)
            container: Any = [] if isinstance(event, yaml.SequenceStartEvent) else {}
            self.stack.append(_Frame(container, event.anchor, self.count - 1))
        elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            frame = self.stack.pop()
            value = frame.container
            if frame.merges:  # explicit keys win over merged ones; earlier merge sources win over later
                merged: dict[Any, Any] = {}
                for source in reversed(frame.merges):
                    merged.update(source)
                value = {**merged, **value}
            self.attach(value, frame.anchor, self.count - frame.start, event)
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor not in self.anchors:
                raise self.fail(f"alias *{event.anchor} refers to no (or an enclosing) anchor", event)
            value, size = self.anchors[event.anchor]
            self.grow(size, event)
            self.attach(value, None, size, event)
        elif isinstance(event, yaml.DocumentStartEvent):
            self.anchors, self.root = {}, None
        elif isinstance(event, yaml.DocumentEndEvent):
            if len(self.documents) >= self.limits.max_documents:
                raise self.fail(f"more than {self.limits.max_documents} YAML documents: refused", event)
            self.documents.append(self.root)

    def attach(self, value: Any, anchor: str | None, size: int, event: yaml.Event) -> None:
        if anchor:
            self.anchors[anchor] = (value, size)
        if not self.stack:
            self.root = value
            return
        frame = self.stack[-1]
        if isinstance(frame.container, list):
            frame.container.append(value)
            if len(frame.container) > self.limits.max_sequence:
                raise self.fail(f"a sequence of more than {self.limits.max_sequence} items: refused", event)
        elif frame.key is _NO_KEY:
            frame.key = value if _hashable(value) else f"<{type(value).__name__} key>"
        elif frame.key is _MERGE:
            frame.key = _NO_KEY
            sources = value if isinstance(value, list) else [value]
            frame.merges.extend(s for s in sources if isinstance(s, dict))
        else:
            frame.container[frame.key] = value
            frame.key = _NO_KEY

    def scalar(self, event: yaml.ScalarEvent) -> Any:
        import yaml  # as in feed()

        value = event.value
        plain = event.implicit[0]
        if event.tag and event.tag != "!":
            tag = event.tag
        elif plain:
            tag = self.resolver.resolve(yaml.ScalarNode, value, (True, False))
        else:
            return value
        if tag == _STR_TAG:
            return value
        if tag == _MERGE_TAG and self.stack and isinstance(self.stack[-1].container, dict) \
                and self.stack[-1].key is _NO_KEY:
            return _MERGE
        if tag == "tag:yaml.org,2002:null":
            return None
        constructor = {
            "tag:yaml.org,2002:bool": self.resolver.construct_yaml_bool,
            "tag:yaml.org,2002:int": self.resolver.construct_yaml_int,
            "tag:yaml.org,2002:float": self.resolver.construct_yaml_float,
        }.get(tag)
        if constructor is None:  # timestamps stay text, as kubectl sends them; unknown tags give the text
            return value
        try:
            return constructor(yaml.ScalarNode(tag, value))
        except (ValueError, OverflowError, yaml.YAMLError):
            return value


def _hashable(value: Any) -> bool:
    return not isinstance(value, list | dict)
