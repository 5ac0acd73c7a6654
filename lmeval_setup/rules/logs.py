"""Log detectors: attribute an lm-eval `main` container log to one root cause (a rule ID).

Texts come from ../shared/reference/lm-eval-errors.md (§3, regex catalog §4) and were checked against the
captured 0.4.12 runs and the reconstructed 0.4.8 logs in ../shared/fixtures/logs/. We match on the message,
never on the log prefix or `[logger:line]` numbers (both differ between 0.4.8 and 0.4.9+), and never
anchor at the line start: tqdm progress bars can be glued in front of a WARNING.

Attribution follows the Python traceback: the LAST exception line wins, because it is the most specific
cause (`LocalEntryNotFoundError` is followed by the transformers `OSError` that says which name failed).
Generic HTTP errors (`404 Client Error`) are refined by the server bodies echoed in lm-eval's retry
warnings (``The model `x` does not exist`` -> served-model-name, `{"detail":"Not Found"}` -> base_url).
Non-fatal quality warnings (TLS verification off, truncation, a slow endpoint) are reported separately
and never compete with the failure.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass

from lmeval_setup.redact import redact_text
from lmeval_setup.rules.catalog import Severity
from lmeval_setup.rules.guarded import GuardedPattern

MAX_EVIDENCE_CHARS = 300
HUB_HOSTS = ("huggingface.co", "hf.co")

# `oc adm inspect` (and `kubectl logs --timestamps`) prefix each line with an RFC 3339 time and a space.
# The TrustyAI driver's own lines start with a time followed by a TAB, so they are left alone.
_KUBELET_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d) ")


@dataclass(frozen=True)
class LogHit:
    """One attribution: the rule, the (1-based) line that shows it, and what to tell the user."""

    rule_id: str
    line: int
    _: KW_ONLY
    text: str  # redacted, shortened log line
    message: str
    severity: Severity | None = None
    extra: tuple[tuple[int, str], ...] = ()  # supporting lines (line number, redacted text)


def split_lines(log: str) -> list[str]:
    """Lines as a reader sees them: tqdm's carriage returns become line breaks, kubelet stamps go."""
    lines = log.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return [_KUBELET_TIMESTAMP.sub("", line, count=1) for line in lines]


def evidence_text(line: str) -> str:
    text = redact_text(line.strip())
    return text if len(text) <= MAX_EVIDENCE_CHARS else text[: MAX_EVIDENCE_CHARS - 3] + "..."


# -- context shared by the refiners: what the whole log says besides the final exception ----------------
@dataclass
class _Context:
    lines: list[str]

    def bodies(self) -> list[tuple[int, str]]:
        """Server answers echoed by lm-eval's retry warnings (sync and async formats)."""
        out = []
        for i, line in enumerate(self.lines):
            m = _RETRY_BODY.search(line)
            if m:
                out.append((i, m.group("body1") or m.group("body2") or ""))
        return out

    def contains(self, pattern: GuardedPattern) -> tuple[int, str] | None:
        for i, line in enumerate(self.lines):
            if pattern.search(line):
                return i, line
        return None


# Searched only when a refiner needs them: compiled then (rules.guarded), not at import.
_RETRY_BODY = GuardedPattern(
    r"API request failed(?: with error message: (?P<body1>.*?)|! Status code: (?P<status>\d+), "
    r"Response text: (?P<body2>.*?))\. Retrying\.\.\."
)
_MODEL_MISSING = GuardedPattern(r"The model `(?P<model>[^`]+)` does not exist")
_CHAT_BODY = GuardedPattern(r"'loc': \('body', 'messages'\), 'msg': 'Field required'")
_COMPLETIONS_BODY = GuardedPattern(r"'loc': \('body', 'prompt'\), 'msg': 'Field required'")
_CONTEXT_BODY = GuardedPattern(
    r"This model's maximum context length is (?P<max>\d+) tokens|The decoder prompt \(length \d+\) is longer than "
    r"the maximum model length of (?P<max2>\d+)"
)
_TOKEN_LOGPROBS = GuardedPattern(r"token_logprobs|parse_logprobs")

Refiner = Callable[[re.Match[str], _Context], "tuple[str, str, tuple[int, str] | None] | None"]


@dataclass(frozen=True)
class _Pattern:
    """A final-exception text and how to turn a match into (rule, message[, supporting line])."""

    name: str  # the lm-eval-errors.md catalog entry, for readers and tests
    # Every line of a failed pod's log is searched with every pattern: a line without the pattern's required
    # literal is passed over without a regex, and a pattern no line needs is never compiled (rules.guarded).
    regex: GuardedPattern
    _: KW_ONLY
    rule_id: str | None
    message: str = ""  # str.format(**groupdict)
    refine: Refiner | None = None


def _p(name: str, regex: str, rule_id: str | None, message: str = "", refine: Refiner | None = None) -> _Pattern:
    return _Pattern(name, GuardedPattern(regex), rule_id=rule_id, message=message, refine=refine)


# -- refiners -------------------------------------------------------------------------------------------
def _is_hub_host(text: str) -> bool:
    return any(host in text for host in HUB_HOSTS)


def _refine_tokenizer_offline(m: re.Match[str], ctx: _Context) -> tuple[str, str, None]:
    """transformers could not fetch the tokenizer. A Hub repo id ('org/name') was right but unreachable:
    offline access is the cause. A served-model name, None or a path means the tokenizer value is wrong."""
    name = m.group("name") or ""
    if "/" in name and not name.startswith(("/", ".", "~")):
        return (
            "LME001",
            f"the tokenizer {name!r} must be downloaded from the Hugging Face Hub, but the pod cannot reach it "
            "(offline mode or no egress)",
            None,
        )
    shown = "no model or tokenizer argument" if name in ("", "None") else f"{name!r}"
    return ("LME004", f"the tokenizer is {shown}, which is neither a Hugging Face repo id nor a local directory", None)


def _refine_http(m: re.Match[str], ctx: _Context) -> tuple[str, str, tuple[int, str] | None] | None:
    """A requests/aiohttp HTTP error after lm-eval's retries: the status plus the echoed server body."""
    status = int(m.group("status") or m.group("astatus"))
    url = m.group("url") or m.group("aurl") or ""
    if _is_hub_host(url):
        return "LME011", f"the Hugging Face Hub answered {status} for {url}", None
    bodies = ctx.bodies()

    def first(pattern: GuardedPattern) -> tuple[int, str] | None:
        return next(((i, body) for i, body in bodies if pattern.search(body)), None)

    if status in (401, 403):
        reason = "Unauthorized" if status == 401 else "Forbidden"
        return "LME007", f"the model endpoint answered {status} ({reason})", None
    if status in (404, 405):
        missing = first(_MODEL_MISSING)
        if missing:
            model = _MODEL_MISSING.search(missing[1]).group("model")  # type: ignore[union-attr]
            return "LME009", f"the server does not serve a model named {model!r} (404)", missing
        return "LME002", f"the server has no endpoint at {url or 'base_url'} ({status}): base_url lacks the API path", (
            bodies[0] if bodies else None
        )
    if status == 400:
        for pattern, rule, text in (
            (_CONTEXT_BODY, "LME012", "the prompt plus requested tokens exceed the served model's context length"),
            (_CHAT_BODY, "LME002", "a completions request was sent to the chat endpoint (the body lacks 'messages')"),
            (_COMPLETIONS_BODY, "LME002", "a chat request was sent to the completions endpoint (the body lacks "
             "'prompt')"),
        ):
            hit = first(pattern)
            if hit:
                return rule, text, hit
        return None
    if status == 429 or status >= 500:
        return "LME013", f"the model endpoint kept failing with {status} until lm-eval's retries ran out", (
            bodies[0] if bodies else None
        )
    return None


def _refine_dns(m: re.Match[str], ctx: _Context) -> tuple[str, str, None]:
    host = m.group("host") or ""
    if _is_hub_host(host or m.group(0)):
        return "LME001", "huggingface.co cannot be resolved from the pod: no egress to the Hub", None
    return "LME008", f"the model endpoint host {host or ''} cannot be resolved (DNS)".replace("  ", " "), None


def _refine_logprobs(m: re.Match[str], ctx: _Context) -> tuple[str, str, tuple[int, str] | None] | None:
    # A bare "NoneType is not subscriptable" means nothing; only inside lm-eval's logprob parser is it LME027.
    hit = ctx.contains(_TOKEN_LOGPROBS)
    if hit is None:
        return None
    return "LME027", "the server answered loglikelihood requests without prompt logprobs (echo + logprobs)", hit


# -- the final-exception catalog (order only breaks ties on the same line) -------------------------------
_FINAL: tuple[_Pattern, ...] = (
    # A. Hugging Face Hub, offline mode, datasets, tokenizers
    _p("ERR-001", r"Couldn't reach '(?P<dataset>[^']+)' on the Hub \(OfflineModeIsEnabled\)", "LME001",
       "dataset {dataset!r} is not cached and the pod runs offline (HF_DATASETS_OFFLINE=1)"),
    _p("ERR-002", r"Couldn't reach '(?P<dataset>[^']+)' on the Hub \((?:LocalEntryNotFoundError|ConnectionError|"
       r"ReadTimeout|ConnectTimeout|Timeout)\)", "LME001",
       "dataset {dataset!r} cannot be downloaded: the pod has no egress to the Hugging Face Hub"),
    _p("ERR-004", r"OSError: We couldn't connect to '[^']+' to load (?:this file|the files), (?:and )?couldn't find "
       r"(?:it|them) in the cached files(?: and it looks like (?P<name>\S+) is not the path to a directory)?",
       None, refine=_refine_tokenizer_offline),
    _p("ERR-005", r"OSError: (?P<name>\S+) is not a local folder and is not a valid model identifier", "LME004",
       "the tokenizer {name!r} is not a Hugging Face repo id (a served-model name?)"),
    _p("ERR-006", r"OSError: You are trying to access a gated repo|Cannot access gated repo for url", "LME011",
       "the tokenizer repository is gated: the pod needs an HF_TOKEN with access"),
    _p("ERR-007", r"OSError: Incorrect path_or_model_id: '(?P<path>[^']+)'", "LME004",
       "the tokenizer path {path!r} does not exist in the pod (is the PVC mounted?)"),
    _p("ERR-008", r"OSError: Can't load tokenizer for '(?P<path>[^']+)'", "LME004",
       "{path!r} has no tokenizer files (tokenizer.json / tokenizer_config.json)"),
    _p("ERR-009", r"OSError: (?P<repo>\S+) does not appear to have a file named (?P<file>\S+?)\. Checkout", "LME004",
       "the tokenizer repository {repo!r} has no {file} (an adapter or GGUF-only repo?)"),
    # Seen live (tests/integration/test_lmeval_live.py), not in the captured catalog: a local tokenizer
    # directory holding only a model's config.json, of a family transformers 4.48 maps to no tokenizer class
    # (granite), fails in AutoTokenizer's TOKENIZER_MAPPING lookup with a bare KeyError of the config class.
    _p("ERR-008b", r"KeyError: <class 'transformers\.models\.[\w.]+\.(?P<config>\w+Config)'>", "LME004",
       "the tokenizer directory has a model config ({config}) but no tokenizer files (tokenizer.json / "
       "tokenizer_config.json)"),
    _p("ERR-010", r"requires you to execute the dataset script in that repo on your local machine|contains custom "
       r"code which must be executed to correctly load the dataset|Dataset scripts are no longer supported, but "
       r"found (?P<script>\S+)", "LME010",
       "the dataset needs a loading script (remote code), which the pod may not run"),
    _p("ERR-012", r"DatasetNotFoundError: Dataset '(?P<dataset>[^']+)' (?:is a gated dataset on the Hub|doesn't "
       r"exist on the Hub or cannot be accessed)", "LME011", "dataset {dataset!r} is gated or does not exist"),
    # The metric starts where its word does ((?<!\S)): the same match as without, but \S+ is no longer
    # retried from every character of every word of every line (half of all the catalog's search time).
    _p("ERR-013", r"(?<!\S)(?P<metric>\S+) not found in the evaluate library!", "LME001",
       "metric {metric!r} must be fetched from the Hugging Face Hub, but the pod runs offline"),
    _p("ERR-014", r"Cannot reach (?P<url>\S+): offline mode is enabled", "LME001",
       "{url} cannot be fetched: the pod runs offline (HF_HUB_OFFLINE=1)"),
    _p("ERR-064", r"fetching external git tasks is not allowed when allowOnline is false", "LME001",
       "custom tasks from git need online access, which this job does not have"),
    # B. Endpoint, HTTP and transport
    _p("ERR-020..029", r"HTTPError: (?P<status>\d{3}) (?:Client|Server) Error: [^\n]*? for url: (?P<url>\S+)|"
       r"ClientResponseError: (?P<astatus>\d{3}), message='[^']*', url='?(?P<aurl>[^'\s,)]+)", None,
       refine=_refine_http),
    _p("ERR-027", r"API key not found\. Please set the `?OPENAI_API_KEY`? environment variable", "LME005",
       "openai-* model types require OPENAI_API_KEY even for a local server; use local-completions"),
    _p("ERR-030", r"\[Errno 111\] Connection refused|Cannot connect to host (?P<host>\S+) ssl:\S+ \[Connect call "
       r"failed", "LME008", "nothing accepts connections at the model endpoint (connection refused)"),
    _p("ERR-031", r"Failed to resolve '(?P<host>[^']+)'|\[Errno -2\] Name or service not known|\[Errno -3\] "
       r"Temporary failure in name resolution", None, refine=_refine_dns),
    _p("ERR-032", r"Connection aborted\.', (?:ConnectionResetError\(104|RemoteDisconnected)", "LME008",
       "the endpoint dropped the connection (http:// sent to a TLS port, or a proxy reset it)"),
    _p("ERR-033", r"Exception:TimeoutError\(\)|^TimeoutError\s*$|ReadTimeout: .*Read timed out\.|"
       r"ServerTimeoutError|ConnectTimeout", "LME008", "the model endpoint did not answer in time"),
    _p("ERR-034", r"CERTIFICATE_VERIFY_FAILED\] certificate verify failed: (?P<why>[^(']+?)(?: \(_ssl\.c:\d+\))?'|"
       r"ClientConnectorCertificateError", "LME006",
       "the endpoint's TLS certificate is not trusted by the pod"),
    _p("ERR-035", r"ssl should be SSLContext, bool, Fingerprint or None, got '[^']*' instead|verify_certificate "
       r"path (?:does not exist|must not be a symlink|must be a regular file)|verify_certificate must be a bool "
       r"or a path to a CA bundle", "LME006",
       "verify_certificate is a CA path this client cannot use (the async client takes only True/False)"),
    _p("ERR-036", r"MissingSchema: Invalid URL '(?P<url>[^']*)': No scheme supplied|InvalidSchema: No connection "
       r"adapters were found for '(?P<url2>[^']*)'", "LME002",
       "base_url is missing or has no http(s):// scheme"),
    _p("ERR-037", r"TypeError: 'NoneType' object is not subscriptable", None, refine=_refine_logprobs),
    _p("ERR-038", r"Exception:KeyError\('choices'\)|KeyError: 'choices'", "LME013",
       "the server returned an error object instead of completions (engine failure)"),
    # C. Model type vs task type, tokenizer and argument misconfiguration
    _p("ERR-040/041", r"NotImplementedError: Loglikelihood (?:is not supported for chat completions|\(and therefore "
       r"`multiple_choice`-type tasks\) is not supported for chat completions)", "LME003",
       "a chat-completions model type was given a loglikelihood (multiple-choice) task"),
    _p("ERR-042", r"Prompt loglikelihoods are only supported by OpenAI's API for|AssertionError: Loglikelihood is "
       r"not supported for gpt-3\.5-turbo", "LME005",
       "openai-completions refuses loglikelihood for any model but babbage-002/davinci-002; use local-completions"),
    _p("ERR-043", r"KeyError: 'Could not automatically map (?P<model>.+?) to a tokeniser", "LME005",
       "openai-completions uses tiktoken, which does not know {model!r}; use local-completions"),
    _p("ERR-044", r"AssertionError: (?:chat-completions require the --apply_chat_template flag|LocalChatCompletion "
       r"expects messages as list\[dict\])", "LME026",
       "local-chat-completions needs chatTemplate.enabled: true (--apply_chat_template)"),
    _p("ERR-045", r"Cannot use chat template functions because tokenizer\.chat_template is not set", "LME026",
       "the tokenizer has no chat template, but the job applies one"),
    _p("ERR-046", r"AssertionError: Tokenizer is required for loglikelihood tasks", "LME004",
       "loglikelihood tasks need a tokenizer, and none is configured"),
    _p("ERR-047", r"AssertionError: Context length must be greater than 0", "LME012",
       "max_length is too small for the task's continuations"),
    _p("ERR-048", r"got multiple values for keyword argument '(?P<arg>\w+)'", "LME015",
       "{arg!r} is given both as a model argument and by the operator; remove it from modelArgs"),
    _p("ERR-049", r"Attempted to load model '(?P<model>[^']+)', but no model for this name found", "LME015",
       "{model!r} is not an lm-eval model type"),
    # D. Tasks and code execution
    _p("ERR-060", r"Tasks not found: (?P<tasks>[^.\n]+)|Tasks were not found: (?P<tasks2>.+)$", "LME014",
       "lm-eval does not know the task(s) {tasks}"),
    _p("ERR-061", r"Attempted to run task: (?P<task>\S+) which is marked as unsafe", "LME010",
       "task {task!r} runs generated code and needs allowCodeExecution"),
    _p("ERR-062", r"The \"code_eval\" metric executes untrusted model-generated code", "LME010",
       "the code_eval metric needs code execution (HF_ALLOW_CODE_EVAL=1)"),
    _p("ERR-063", r"ModuleNotFoundError: No module named '(?P<module>[^']+)'", "LME023",
       "the job image lacks the Python package {module!r}"),
    _p("TSO-291", r"attempted to use '\w+' LM type, but package `?(?P<module>\w+)`? (?:or `?\w+`? )?are not installed",
       "LME023", "the job image lacks the {module!r} package"),
    # E. Resources
    _p("ERR-070", r"OutOfMemoryError: CUDA out of memory", "LME020", "the GPU ran out of memory"),
    # F. offline.storage.s3: the job image's scripts/s3_downloader.py, whose stdout the driver prints in main's
    # log before it fails the job with "failed to download assets from S3: exit status 1"
    _p("S3-001", r"SSL verification enabled, but no certificate path found", "LME032",
       "the S3 download verifies TLS (verifySSL defaults to true) but offline.storage.s3 names no caBundle, so "
       "the job image's downloader stops before it connects"),
    _p("S3-002", r"SSL CA bundle not found at (?P<path>\S+)", "LME032",
       "the CA bundle {path} that offline.storage.s3.caBundle names is not in the pod"),
)

# -- quality warnings: never the failure, reported with their own (info/warning) rules ------------------
_INSECURE = GuardedPattern(r"InsecureRequestWarning: Unverified HTTPS request is being made to host|"
                           r"'verify_certificate': False")
_TRUNCATED = GuardedPattern(r"Left truncating context\.|Some contexts exceeded \(max length: \(\d+\)|"
                            r"They were left truncated")
_INIT_TIMEOUT = GuardedPattern(r"Initializing [\w-]+ model, with arguments: \{.*'timeout': (?P<timeout>\d+)")
_SLOW_REQUEST = GuardedPattern(r"Requesting API:.*\[[\d:]+<[^,]*, +(?P<secs>[\d.]+)s/it\]")
DEFAULT_TIMEOUT_S = 300  # lm-eval TemplateAPI default (the docs say 30; the code says 300)


def _last_final_hit(lines: list[str]) -> LogHit | None:
    """The attribution of the last line that has one. Scanned from the end up: lm-eval's final exception
    is in the last lines, so a failed run's log is settled after a few lines instead of every catalog
    pattern being tried on each of its (up to LOG_TAIL_LINES) lines; the answer is the same as a forward
    scan's last hit, since each line is attributed on its own (refiners read the whole log, never the
    scan's position)."""
    ctx = _Context(lines)
    # A pattern whose required literal is nowhere in the log matches none of its lines: one containment test
    # over the whole log each, instead of one per line and pattern (most logs hold two or three candidates).
    whole = "\n".join(lines)
    candidates = [pattern for pattern in _FINAL if pattern.regex.may_match(whole)]
    for i in range(len(lines) - 1, -1, -1):
        hit = _line_hit(lines[i], i, ctx, candidates)
        if hit is not None:
            return hit
    return None


def _line_hit(line: str, i: int, ctx: _Context, patterns: list[_Pattern]) -> LogHit | None:
    """One line's attribution: the first of `patterns` (the catalog's, in its order) that matches it and is
    not refined away (the catalog order breaks ties on one line)."""
    for pattern in patterns:
        m = pattern.regex.search(line)
        if m is None:
            continue
        hit = _to_hit(pattern, m, i, line, ctx)
        if hit is not None:
            return hit
    return None


def _to_hit(pattern: _Pattern, m: re.Match[str], i: int, line: str, ctx: _Context) -> LogHit | None:
    support: tuple[int, str] | None = None
    if pattern.refine is not None:
        refined = pattern.refine(m, ctx)
        if refined is None:
            return None
        rule_id, message, support = refined
    else:
        assert pattern.rule_id is not None
        groups = {k: (v or "") for k, v in m.groupdict().items()}
        if "tasks" in groups and not groups["tasks"]:
            groups["tasks"] = groups.get("tasks2", "")
        rule_id, message = pattern.rule_id, pattern.message.format(**groups)
    extra = ((support[0] + 1, evidence_text(ctx.lines[support[0]])),) if support else ()
    return LogHit(rule_id, i + 1, text=evidence_text(line), message=message, extra=extra)


def failure(log: str) -> LogHit | None:
    """The root cause of a failed run: the last exception line that names one (None if nothing matches)."""
    return _last_final_hit(split_lines(log))


def quality_hits(log: str) -> list[LogHit]:
    """Non-fatal findings: TLS verification disabled (LME028), truncation (LME030), a slow endpoint (LME008)."""
    return _quality_hits(split_lines(log))


def _quality_hits(lines: list[str]) -> list[LogHit]:
    whole = "\n".join(lines)  # as in _last_final_hit: a pattern whose literal is not in the log is not searched
    out: list[LogHit] = []
    for rule_id, pattern, message in (
        ("LME028", _INSECURE, "the client does not verify the endpoint's TLS certificate"),
        ("LME030", _TRUNCATED, "lm-eval truncated inputs to max_length"),
    ):
        if not pattern.may_match(whole):
            continue
        for i, line in enumerate(lines):
            if pattern.search(line):
                out.append(LogHit(rule_id, i + 1, text=evidence_text(line), message=message))
                break
    slow = _slow_requests(lines) if _SLOW_REQUEST.may_match(whole) else None
    if slow:
        out.append(slow)
    return out


def _slow_requests(lines: list[str]) -> LogHit | None:
    """Requests slower than the client timeout: the sync client (num_concurrent=1) passes no timeout to
    requests.post in lm-eval 0.4.8-0.4.12, so a stalled endpoint hangs the job instead of failing it."""
    timeout = DEFAULT_TIMEOUT_S
    for line in lines:
        m = _INIT_TIMEOUT.search(line)
        if m:
            timeout = int(m.group("timeout"))
            break
    for i, line in enumerate(lines):
        m = _SLOW_REQUEST.search(line)
        if m and float(m.group("secs")) > timeout:
            return LogHit(
                "LME008", i + 1, text=evidence_text(line),
                message=f"each request took {float(m.group('secs')):.0f} s, more than the {timeout} s timeout: "
                "the endpoint is barely reachable and a stalled request would hang the job",
                severity="warning",
            )
    return None


def analyse(log: str) -> list[LogHit]:
    """Everything a log says: the failure (if any) first, then quality warnings for other rules."""
    lines = split_lines(log)  # once for both readings
    hits: list[LogHit] = []
    main = _last_final_hit(lines)
    if main is not None:
        hits.append(main)
    seen = {main.rule_id} if main else set()
    hits.extend(h for h in _quality_hits(lines) if h.rule_id not in seen)
    return hits
