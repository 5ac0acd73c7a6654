"""Log texts the live failure matrix (tests/integration/test_lmeval_live.py) found that the captured catalog
lacked: the doctor must attribute them without the job image installed."""

from __future__ import annotations

from lmeval_setup.rules import logs

# The end of a real lm-eval 0.4.12 run whose tokenizer= is a directory with only a granite config.json.
GRANITE_CONFIG_ONLY = """\
2026-12-06:05:58:01 INFO     [models.api_models:200] Using tokenizer huggingface
Traceback (most recent call last):
  File "/opt/app-root/lib64/python3.11/site-packages/transformers/models/auto/auto_factory.py", line 771, in __getitem__
    raise KeyError(key)
KeyError: <class 'transformers.models.granite.configuration_granite.GraniteConfig'>
"""


def test_tokenizer_dir_with_only_a_granite_config_is_lme004() -> None:
    hit = logs.failure(GRANITE_CONFIG_ONLY)
    assert hit is not None and (hit.rule_id, hit.line) == ("LME004", 5)
    assert "GraniteConfig" in hit.message and "no tokenizer files" in hit.message


def test_an_unrelated_keyerror_is_not_blamed_on_the_tokenizer() -> None:
    assert logs.failure("KeyError: 'choices_text'\n") is None
