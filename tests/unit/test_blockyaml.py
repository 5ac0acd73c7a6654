"""blockyaml reads a kubeconfig without PyYAML; whatever it accepts, it reads exactly as safeio.load_yaml does
(the oracle: PyYAML's parser and resolver), and anything else it leaves to it (None)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmeval_setup import safeio
from lmeval_setup.blockyaml import load_block_mapping

KUBECTL_STYLE = """\
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUM=
    server: https://api.example.com:6443
    tls-server-name: api.internal
  name: api-example-com:6443
contexts:
- context:
    cluster: api-example-com:6443
    namespace: private-ai-demo
    user: kube:admin/api-example-com:6443
  name: private-ai-demo/api-example-com:6443/kube:admin
current-context: private-ai-demo/api-example-com:6443/kube:admin
kind: Config
preferences: {}
users:
- name: kube:admin/api-example-com:6443
  user:
    token: sha256~AbCdEf0123456789_-xyz
"""


def _oracle(text: str) -> Any:
    try:
        return safeio.load_yaml(text, "kubeconfig")
    except safeio.UnreadableInput as exc:
        return exc


def _agrees(text: str) -> None:
    fast = load_block_mapping(text)
    if fast is not None:
        assert fast == _oracle(text), text


def test_a_kubeconfig_as_kubectl_and_oc_write_it_is_read_without_pyyaml() -> None:
    fast = load_block_mapping(KUBECTL_STYLE)
    assert fast is not None and fast == _oracle(KUBECTL_STYLE)
    assert fast["users"][0]["user"]["token"] == "sha256~AbCdEf0123456789_-xyz"
    indented = "users:\n  - name: a\n    user:\n      insecure-skip-tls-verify: true\n"
    assert load_block_mapping(indented) == {"users": [{"name": "a", "user": {"insecure-skip-tls-verify": True}}]}


@pytest.mark.parametrize("text", [
    "a: yes\n", "a: 1\n", "a: 0x1F\n", "a: 1.5\n", "a: .inf\n", "a: ~\n", "a: null\n", "a: 2024-01-01\n",
    "a: b: c\n", "a: b:\n", "a: b # comment\n", "a: &x b\nc: *x\n", "a: !!str 1\n", "a: |\n  text\n",
    "a: [b, c]\n", "a: {b: c}\n", 'a: "b\\nc"\n', "a: 'b\n  c'\n", "a:\n  b\n  c\n", "<<: {a: b}\n",
    "a: b\r\n", "a:\tb\n", "a: caf\u00e9\n", "- a\n", "a: b\n---\nc: d\n", "a: True\n", "? a\n: b\n", "a: -b\n",
])
def test_what_it_does_not_take_apart_is_left_to_pyyaml(text: str) -> None:
    assert load_block_mapping(text) is None


# Documents of the shape a kubeconfig has, dumped by PyYAML in block style: the values include every kind of
# string the resolver turns into something else, and strings that need quoting or escaping.
_WORDS = st.sampled_from(["name", "cluster", "user", "server", "token", "a-b", "x.y", "k_8", "on", "yes", "null",
                          "True", "1", "0o7", "-x", "a:b", "a b", "#c", "", "~", "é", "<<", "=", "'", '"'])
_STRINGS = st.one_of(_WORDS, st.text(max_size=12), st.from_regex(r"[a-z/][a-z0-9./:@+=~_-]{0,15}", fullmatch=True))
_SCALARS = st.one_of(_STRINGS, st.booleans(), st.none(), st.integers(), st.floats(allow_nan=False))
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(_STRINGS, inner, max_size=4)), max_leaves=20)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=st.dictionaries(_STRINGS, _VALUES, min_size=1, max_size=5), indent=st.sampled_from([2, 4]),
       quotes=st.sampled_from([None, "'", '"']))
def test_every_dumped_document_it_accepts_reads_as_pyyaml_reads_it(document: dict[str, Any], indent: int,
                                                                  quotes: str | None) -> None:
    text = yaml.safe_dump(document, default_flow_style=False, indent=indent, allow_unicode=True,
                          default_style=quotes)  # type: ignore[arg-type]
    _agrees(text)


# Documents of what a kubeconfig holds (plain words, URLs, paths, tokens, booleans; '' and "" quoted strings):
# most of these it accepts, so this is where its reading of indentation and sequences is checked.
_KUBECONFIG_WORDS = st.from_regex(r"[a-z/][a-z0-9./:@+=~_-]{0,20}", fullmatch=True).filter(
    lambda w: not w.endswith(":"))
_KUBECONFIG_VALUES = st.recursive(
    st.one_of(_KUBECONFIG_WORDS, st.booleans(), st.just(""), st.sampled_from(["it's", "a: b", "#x", "1"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_KUBECONFIG_WORDS, inner, max_size=4)),
    max_leaves=25)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=st.dictionaries(_KUBECONFIG_WORDS, _KUBECONFIG_VALUES, min_size=1, max_size=5),
       indent=st.sampled_from([2, 3, 4]))
def test_every_kubeconfig_like_document_reads_as_pyyaml_reads_it(document: dict[str, Any], indent: int) -> None:
    text = yaml.safe_dump(document, default_flow_style=False, indent=indent)
    _agrees(text)


# Text made of YAML's own punctuation: mostly malformed, or odd corners of the syntax.
_PIECES = st.sampled_from(["a", "b", ": ", ":", "- ", "-", "\n", "  ", " ", "'", '"', "#", "{}", "[]", "true", "x:y",
                           "&a", "*a", "!", "|", ">", "?", "~", "1", ".", "\\", ",", "%"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pieces=st.lists(_PIECES, max_size=30))
def test_random_text_it_accepts_reads_as_pyyaml_reads_it(pieces: list[str]) -> None:
    _agrees("".join(pieces))
