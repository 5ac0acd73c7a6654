"""Which lm-eval tasks need loglikelihood (and so a completions endpoint with prompt logprobs).

The single source for spec rules (LME003), the sandbox's outcome model and the doctor. Facts from
lm-eval's task YAMLs (`output_type`): multiple_choice, loglikelihood and loglikelihood_rolling tasks
send loglikelihood requests, which chat-completions model types cannot serve
("Loglikelihood is not supported for chat completions"). See ../shared/reference/lm-eval-errors.md §7.
Names are exact; prefixes cover task families (arc_*, mmlu_*). A generative variant inside a family
(mmlu_generative, mmlu_pro_*, truthfulqa_gen) is listed in GENERATE_UNTIL_TASKS/PREFIXES, which win.
"""

from __future__ import annotations

LOGLIKELIHOOD_TASKS: frozenset[str] = frozenset({
    "arc_easy", "arc_challenge", "hellaswag", "mmlu", "winogrande", "piqa", "boolq", "openbookqa",
    "commonsense_qa", "rte", "cb", "copa", "wsc", "wsc273", "wic", "multirc", "record", "sciq",
    "toxigen", "lambada", "lambada_openai", "lambada_standard", "wikitext", "logiqa", "logiqa2",
    "mathqa", "qnli", "qqp", "mrpc", "sst2", "cola", "mnli", "mnli_mismatch", "wnli", "glue",
    "super-glue-lm-eval-v1", "anli", "anli_r1", "anli_r2", "anli_r3", "prost", "pubmedqa", "race",
    "swag", "siqa", "social_iqa", "headqa", "headqa_en", "medmcqa", "medqa_4options", "xnli",
    "xcopa", "xstorycloze", "xwinograd", "paws_en", "pile", "blimp", "asdiv", "arithmetic",
    "unfair_tos", "ai2_arc", "truthfulqa", "leaderboard_mmlu_pro", "tinyArc", "tinyHellaswag",
    "tinyMMLU", "tinyWinogrande", "tinyTruthfulQA",
})

LOGLIKELIHOOD_PREFIXES: tuple[str, ...] = (
    "arc_", "mmlu_", "hellaswag_", "winogrande_", "piqa_", "boolq_", "truthfulqa_mc", "lambada_",
    "crows_pairs", "gpqa_", "blimp_", "pile_", "wikitext_", "arithmetic_", "ethics_", "hendrycks_ethics",
    "kmmlu", "cmmlu", "ceval", "belebele", "global_mmlu", "agieval", "openbookqa_", "sciq_",
    "xstorycloze_", "xwinograd_", "xcopa_", "xnli_", "anli_", "race_", "tinyArc", "tinyMMLU",
)

# Generative members of otherwise multiple-choice families: they work with chat models.
GENERATE_UNTIL_TASKS: frozenset[str] = frozenset({
    "mmlu_generative", "truthfulqa_gen", "gsm8k", "gsm8k_cot", "ifeval", "humaneval", "mbpp",
    "arc_challenge_chat", "arc_challenge_llama",
})
GENERATE_UNTIL_PREFIXES: tuple[str, ...] = (
    "mmlu_pro", "mmlu_flan_cot", "mmlu_flan_n_shot_generative", "mmlu_generative", "bbh",
    "minerva_math", "gsm8k", "leaderboard_math", "leaderboard_ifeval", "leaderboard_bbh",
    "truthfulqa_gen",
)

# Tasks that execute generated code (unsafe_code: true): need allowCodeExecution and the permission.
CODE_EXECUTION_TASKS: frozenset[str] = frozenset({"humaneval", "humaneval_plus", "mbpp", "mbpp_plus"})
CODE_EXECUTION_PREFIXES: tuple[str, ...] = ("humaneval_", "mbpp_")


def needs_loglikelihood(task: str) -> bool:
    """True when lm-eval sends loglikelihood requests for this task name (exact or family)."""
    if task in GENERATE_UNTIL_TASKS or task.startswith(GENERATE_UNTIL_PREFIXES):
        return False
    return task in LOGLIKELIHOOD_TASKS or task.startswith(LOGLIKELIHOOD_PREFIXES)


def needs_code_execution(task: str) -> bool:
    return task in CODE_EXECUTION_TASKS or task.startswith(CODE_EXECUTION_PREFIXES)
