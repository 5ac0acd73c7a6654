"""Log detectors against every captured (0.4.12) and reconstructed (0.4.8) log in ../shared/fixtures/logs.

The expected rule comes from each folder's README table, read at collection time; the fixture files are
read in place (never copied). Without ../shared the tests skip through the `fixtures_dir` fixture.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from lmeval_setup.rules import logs as L

SHARED = Path(os.environ.get("LMEVAL_SHARED_DIR", Path(__file__).resolve().parents[2].parent / "shared"))
LOGS = SHARED / "fixtures" / "logs"
INFO_RULES = {"LME028", "LME030"}
_ROW = re.compile(r"^\|\s*(?P<file>[^|\s]+\.(?:log|yaml))\s*\|\s*(?P<expected>.+?)\s*\|\s*$")


def readme_table(folder: str) -> list[tuple[str, str]]:
    readme = LOGS / folder / "README.md"
    if not readme.is_file():
        return []
    rows = [_ROW.match(line) for line in readme.read_text().splitlines()]
    return [(m["file"], m["expected"]) for m in rows if m and m["file"].endswith(".log")]


def expected_rules(text: str) -> set[str]:
    return set(re.findall(r"LME\d{3}", text.split("(")[0])) if not text.startswith("none") else set()


def error_rules(log: str) -> set[str]:
    return {h.rule_id for h in L.analyse(log) if h.rule_id not in INFO_RULES}


def ids(rows: list[tuple[str, str]]) -> list[str]:
    return [r[0] for r in rows]


CAPTURED = readme_table("lm-eval-0.4.12") or [("(no ../shared)", "none")]
RECONSTRUCTED = readme_table("reconstructed-0.4.8") or [("(no ../shared)", "none")]


@pytest.mark.shared
@pytest.mark.parametrize(("name", "expected"), CAPTURED, ids=ids(CAPTURED))
def test_captured_log_is_attributed_to_its_readme_rule(fixtures_dir: Path, name: str, expected: str) -> None:
    log = (fixtures_dir / "logs" / "lm-eval-0.4.12" / name).read_text()
    got = error_rules(log)
    wanted = expected_rules(expected)
    if " or " in expected:  # "LME005 or LME007": either attribution is right, but exactly one
        assert len(got) == 1 and got <= set(re.findall(r"LME\d{3}", expected)), (got, expected)
    else:
        assert got == wanted, (got, expected)
    if not wanted:  # successes: only the info rules the README mentions may appear
        infos = {h.rule_id for h in L.analyse(log)}
        assert infos <= INFO_RULES
        assert ("LME028" in infos) == ("TLS verification disabled" in expected or "verification disabled" in expected)
        assert ("LME030" in infos) == ("truncation" in expected)


def _parts(text: str) -> list[str]:
    """Files holding several independent failures separate them with `# (a)`-style comment lines."""
    parts = re.split(r"(?m)^# \([a-z]\).*$", text)
    return parts[1:] if len(parts) > 1 else parts


@pytest.mark.shared
@pytest.mark.parametrize(("name", "expected"), RECONSTRUCTED, ids=ids(RECONSTRUCTED))
def test_reconstructed_log_is_attributed_to_its_readme_rule(fixtures_dir: Path, name: str, expected: str) -> None:
    text = (fixtures_dir / "logs" / "reconstructed-0.4.8" / name).read_text()
    wanted = expected_rules(expected)
    per_part = [error_rules(part) for part in _parts(text)]
    assert all(len(rules) == 1 for rules in per_part), per_part  # every failure gets exactly one cause
    found = set().union(*per_part)
    # Multi-part files: every README rule is found; 15's gated (d) and no-egress (e) parts get their own
    # catalog rules (LME011, LME001 as for s04), consistent with the captured logs.
    assert wanted <= found, (found, expected)
    if len(per_part) == 1:
        assert found == wanted


@pytest.mark.shared
def test_reconstructed_status_examples(fixtures_dir: Path) -> None:
    import yaml

    from lmeval_setup.rules.status import classify_status_message

    docs = list(yaml.safe_load_all((fixtures_dir / "logs" / "reconstructed-0.4.8" /
                                    "13_lmevaljob_status_examples.yaml").read_text()))
    got = [classify_status_message(d["status"]["message"]) for d in docs if d]
    rules = [g[0] if g else None for g in got]
    assert rules == [None, "LME020", "LME020", "LME015", "LME015", "LME015", "LME001", None]


# -- variants the fixtures do not show: other hosts, ports, tasks, the async client, 0.4.8 prefixes ------
V048 = "2025-06-10:15:01:22,881 WARNING  [lm_eval.models.api_models:404] "
V012 = "2026-11-28:18:53:58 WARNING  [models.api_models:481] "


@pytest.mark.parametrize(("log", "rule"), [
    # async 404 without the path, other host and port
    (V012 + 'API request failed! Status code: 404, Response text: {"detail":"Not Found"}. Retrying...\n'
     "aiohttp.client_exceptions.ClientResponseError: 404, message='Not Found', url='http://llama:8000/v1'", "LME002"),
    # async 404 for a model name
    (V012 + 'API request failed! Status code: 404, Response text: {"object":"error","message":"The model `x/y` '
     'does not exist.","type":"NotFoundError","param":null,"code":404}. Retrying...\n'
     "aiohttp.client_exceptions.ClientResponseError: 404, message='Not Found', url='https://m.example:443/v1/completions'",
     "LME009"),
    ("aiohttp.client_exceptions.ClientResponseError: 401, message='Unauthorized', url='http://m:80/v1/completions'",
     "LME007"),
    ("requests.exceptions.HTTPError: 403 Client Error: Forbidden for url: https://route.apps.x/v1/completions",
     "LME007"),
    ("requests.exceptions.HTTPError: 503 Server Error: Service Unavailable for url: http://m:8080/v1/completions",
     "LME013"),
    ("requests.exceptions.HTTPError: 429 Client Error: Too Many Requests for url: http://gw/v1/completions", "LME013"),
    # DNS on the model host vs on the Hub
    ("requests.exceptions.ConnectionError: HTTPConnectionPool(host='granite-predictor.other-ns', port=80): Max "
     "retries exceeded (Caused by NameResolutionError(\"Failed to resolve 'granite-predictor.other-ns' ([Errno -2] "
     "Name or service not known)\"))", "LME008"),
    ("'(MaxRetryError(\"HTTPSConnectionPool(host='huggingface.co', port=443): Failed to resolve 'huggingface.co'\"",
     "LME001"),
    (V048 + "Exception:TimeoutError(), (no outputs), retrying.\nTimeoutError", "LME008"),
    ("ConnectionError: Couldn't reach 'cais/mmlu' on the Hub (OfflineModeIsEnabled)", "LME001"),
    ("ConnectionError: Couldn't reach 'Rowan/hellaswag' on the Hub (ConnectTimeout)", "LME001"),
    ("ValueError: Tasks not found: mmlu_pro_foo. Try `lm-eval --tasks {list_groups,...}`", "LME014"),
    ("ValueError: Attempted to run task: mbpp which is marked as unsafe. Set confirm_run_unsafe_code=True", "LME010"),
    ("ModuleNotFoundError: No module named 'immutabledict'", "LME023"),
    ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB.", "LME020"),
    ("requests.exceptions.HTTPError: 401 Client Error: Unauthorized for url: https://huggingface.co/x/resolve/main/a",
     "LME011"),
    # a tqdm bar glued in front of the warning, and kubelet timestamps (oc adm inspect) in front of every line
    ("2026-11-28T18:53:58.123456789Z Requesting API:   0%|  | 0/2 [00:00<?, ?it/s]" + V012 +
     'API request failed with error message: {"detail":"Not Found"}. Retrying...\n'
     "2026-11-28T18:53:59.000000000Z requests.exceptions.HTTPError: 404 Client Error: Not Found for url: http://h:1/",
     "LME002"),
])
def test_variants(log: str, rule: str) -> None:
    hit = L.failure(log)
    assert hit is not None and hit.rule_id == rule, hit


def test_unrelated_nonetype_error_is_not_attributed() -> None:
    assert L.failure("TypeError: 'NoneType' object is not subscriptable") is None


def test_evidence_is_redacted_and_numbered() -> None:
    log = ("INFO start\nAuthorization: Bearer abcdefghijklmnopqrstuvwxyz0123\n"
           "ValueError: bad api_key=sk-abcdefghijklmnopqrstuvwx\n"
           "requests.exceptions.HTTPError: 401 Client Error: Unauthorized for url: http://m/v1/completions?"
           "token=supersecretvalue123")
    hit = L.failure(log)
    assert hit is not None and hit.rule_id == "LME007" and hit.line == 4
    assert "supersecretvalue123" not in hit.text
