"""The vLLM and Hugging Face Hub stand-ins answer like the real servers where lm-eval can tell.

(tests/integration/test_lmeval_live.py runs the real lm-eval against them; these pin the wire details.)
"""

from __future__ import annotations

import http.client
import json
import ssl
from pathlib import Path
from typing import Any

import pytest

from lmeval_setup.sandbox.hubserver import HubServer
from lmeval_setup.sandbox.modelserver import ModelServer, ModelServerConfig
from lmeval_setup.sandbox.pki import TinyCA


def call(url: str, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
         context: ssl.SSLContext | None = None) -> tuple[int, dict[str, str], Any]:
    host = url.split("://", 1)[1]
    conn = (http.client.HTTPSConnection(host, context=context, timeout=10) if url.startswith("https")
            else http.client.HTTPConnection(host, timeout=10))
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=data, headers={"content-type": "application/json", **(headers or {})})
    response = conn.getresponse()
    raw = response.read()
    conn.close()
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, parsed


@pytest.fixture(scope="module")
def vllm() -> Any:
    with ModelServer(ModelServerConfig(served_model_name="granite", max_model_len=32)) as server:
        yield server


def test_unknown_route_and_wrong_method_are_fastapi_answers(vllm: ModelServer) -> None:
    assert call(vllm.url, "POST", "/v1", {"prompt": "x"})[::2] == (404, {"detail": "Not Found"})
    assert call(vllm.url, "GET", "/v1/completions")[::2] == (405, {"detail": "Method Not Allowed"})


def test_models_lists_the_served_name_and_other_names_get_vllms_404(vllm: ModelServer) -> None:
    status, _, body = call(vllm.url, "GET", "/v1/models")
    assert status == 200 and [m["id"] for m in body["data"]] == ["granite"]
    status, _, body = call(vllm.url, "POST", "/v1/completions", {"model": "ibm-granite/x", "prompt": "hi"})
    assert status == 404 and body["error"]["message"] == "The model `ibm-granite/x` does not exist."


def test_echo_logprobs_cover_every_prompt_token_plus_one(vllm: ModelServer) -> None:
    body = {"model": "granite", "prompt": [[5, 6, 7, 8]], "max_tokens": 1, "logprobs": 1, "echo": True}
    status, _, answer = call(vllm.url, "POST", "/v1/completions", body)
    logprobs = answer["choices"][0]["logprobs"]
    assert status == 200 and len(logprobs["token_logprobs"]) == 5 and logprobs["token_logprobs"][0] is None
    assert logprobs["top_logprobs"][0] is None and all(isinstance(t, dict) for t in logprobs["top_logprobs"][1:])
    assert call(vllm.url, "POST", "/v1/completions", body)[2]["choices"] == answer["choices"]  # deterministic


def test_generation_stops_at_the_stop_sequence(vllm: ModelServer) -> None:
    _, _, answer = call(vllm.url, "POST", "/v1/completions",
                        {"model": "granite", "prompt": ["Q: 1+1?"], "max_tokens": 8, "stop": ["Question:"]})
    assert "####" in answer["choices"][0]["text"] and "Question:" not in answer["choices"][0]["text"]


def test_wrong_body_for_the_route_is_pydantics_field_required(vllm: ModelServer) -> None:
    status, _, body = call(vllm.url, "POST", "/v1/chat/completions", {"model": "granite", "prompt": "x"})
    assert status == 400 and "'loc': ('body', 'messages'), 'msg': 'Field required'" in body["error"]["message"]
    status, _, body = call(vllm.url, "POST", "/v1/completions", {"model": "granite", "messages": []})
    assert status == 400 and "'loc': ('body', 'prompt'), 'msg': 'Field required'" in body["error"]["message"]


def test_context_length_is_vllms_400(vllm: ModelServer) -> None:
    status, _, body = call(vllm.url, "POST", "/v1/completions",
                           {"model": "granite", "prompt": [list(range(30))], "max_tokens": 16})
    assert status == 400 and body["error"]["message"].startswith("This model's maximum context length is 32 tokens.")


def test_api_key_and_faults() -> None:
    with ModelServer(ModelServerConfig(api_key="k")) as server:
        assert call(server.url, "POST", "/v1/completions", {"prompt": "x"})[::2] == (401, {"error": "Unauthorized"})
        assert call(server.url, "POST", "/v1/completions", {"prompt": "x"}, {"authorization": "Bearer k"})[0] == 200
    for fault, status in (("429", 429), ("500", 500)):
        with ModelServer(ModelServerConfig(fault=fault)) as server:
            assert call(server.url, "POST", "/v1/completions", {"prompt": "x"})[0] == status
    with ModelServer(ModelServerConfig(fault="reset")) as server, pytest.raises((ConnectionError,
                                                                                 http.client.RemoteDisconnected)):
        call(server.url, "POST", "/v1/completions", {"prompt": "x"})
    with ModelServer(ModelServerConfig(fault="no-logprobs")) as server:
        answer = call(server.url, "POST", "/v1/completions", {"prompt": "a b", "logprobs": 1, "echo": True})[2]
        assert answer["choices"][0]["logprobs"] is None
    with pytest.raises(ValueError, match="unknown fault"):
        ModelServerConfig(fault="melt")


def test_tls_with_its_own_ca() -> None:
    ca = TinyCA("test-ca")
    pair = ca.server_cert(("127.0.0.1",))
    with ModelServer(tls=(pair.cert_pem, pair.key_pem)) as server:
        assert server.url.startswith("https://")
        with pytest.raises(ssl.SSLCertVerificationError):
            call(server.url, "GET", "/v1/models", context=ssl.create_default_context())
        trusted = ssl.create_default_context(cadata=ca.cert_pem.decode())
        assert call(server.url, "GET", "/v1/models", context=trusted)[0] == 200


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("hub")
    for repo in ("org/tok", "org/gated"):
        (root / "models" / repo).mkdir(parents=True)
        (root / "models" / repo / "README.md").write_text("x")
        (root / "models" / repo / "tokenizer_config.json").write_text("{}")
    (root / "datasets" / "org" / "data" / "cfg").mkdir(parents=True)
    (root / "datasets" / "org" / "data" / "README.md").write_text("---\n---\n")
    (root / "datasets" / "org" / "data" / "cfg" / "test.jsonl").write_text('{"a": 1}\n')
    (root / "gated.json").write_text(json.dumps(["org/gated"]))
    with HubServer(Path(root), accepted_tokens=("hf_ok",)) as server:
        yield server


def test_hub_resolve_headers_and_errors(hub: HubServer) -> None:
    status, headers, _ = call(hub.url, "HEAD", "/org/tok/resolve/main/tokenizer_config.json")
    assert status == 200 and len(headers["x-repo-commit"]) == 40 and headers["etag"].startswith('"')
    status, headers, _ = call(hub.url, "HEAD", "/granite/resolve/main/tokenizer_config.json")
    assert (status, headers["x-error-code"]) == (401, "RepoNotFound")
    status, headers, _ = call(hub.url, "HEAD", "/org/tok/resolve/main/config.json")
    assert (status, headers["x-error-code"]) == (404, "EntryNotFound")
    status, headers, _ = call(hub.url, "HEAD", "/org/gated/resolve/main/tokenizer_config.json")
    assert (status, headers["x-error-code"]) == (401, "GatedRepo")
    assert "Access to model org/gated is restricted" in headers["x-error-message"]
    assert call(hub.url, "HEAD", "/org/gated/resolve/main/tokenizer_config.json",
                headers={"Authorization": "Bearer hf_ok"})[0] == 200


def test_hub_dataset_api(hub: HubServer) -> None:
    status, _, info = call(hub.url, "GET", "/api/datasets/org/data/revision/main")
    assert status == 200 and {s["rfilename"] for s in info["siblings"]} == {"README.md", "cfg/test.jsonl"}
    status, _, tree = call(hub.url, "GET", f"/api/datasets/org/data/tree/{info['sha']}/cfg?recursive=True")
    assert status == 200 and [(e["type"], e["path"]) for e in tree] == [("file", "cfg/test.jsonl")]
    status = call(hub.url, "GET", "/datasets/org/data/resolve/main/../../../etc/passwd")[0]
    assert status in (401, 404)
