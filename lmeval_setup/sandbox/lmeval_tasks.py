"""Enough of lm-eval's task YAMLs to write plausible logs and results files in the sandbox.

Which tasks need loglikelihood is NOT decided here: that lives in lmeval_setup/rules/tasks.py, the
one list shared with lint and the doctor. This table only adds what a log or a results file shows:
dataset id (v0.4.8 task YAMLs, as in the TrustyAI job image: `hellaswag`, `gsm8k`,
`hails/mmlu_no_train` rather than v0.4.12's repo ids), split sizes, choices and metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

from lmeval_setup.rules.tasks import needs_loglikelihood


@dataclass(frozen=True)
class TaskInfo:
    name: str
    output_type: str
    dataset_path: str
    dataset_name: str | None
    eval_split: str
    n_docs: int
    choices: int  # loglikelihood requests per doc for multiple_choice; 1 otherwise
    metrics: tuple[str, ...]
    version: float = 1.0
    filters: tuple[str, ...] = ("none",)  # gsm8k reports per filter (strict-match / flexible-extract)
    splits: tuple[tuple[str, int], ...] = ()  # what "Generating <split> split" shows on first download

    @property
    def requests(self) -> int:
        return self.n_docs * self.choices


_MC = "multiple_choice"
_GEN = "generate_until"

_TABLE: tuple[TaskInfo, ...] = (
    TaskInfo("arc_easy", _MC, "allenai/ai2_arc", "ARC-Easy", "test", 2376, 4, ("acc", "acc_norm"),
             splits=(("train", 2251), ("test", 2376), ("validation", 570))),
    TaskInfo("arc_challenge", _MC, "allenai/ai2_arc", "ARC-Challenge", "test", 1172, 4, ("acc", "acc_norm"),
             splits=(("train", 1119), ("test", 1172), ("validation", 299))),
    TaskInfo("hellaswag", _MC, "hellaswag", None, "validation", 10042, 4, ("acc", "acc_norm"),
             splits=(("train", 39905), ("test", 10003), ("validation", 10042))),
    TaskInfo("winogrande", _MC, "winogrande", "winogrande_xl", "validation", 1267, 2, ("acc",),
             splits=(("train", 40398), ("test", 1767), ("validation", 1267))),
    TaskInfo("piqa", _MC, "piqa", None, "validation", 1838, 2, ("acc", "acc_norm"),
             splits=(("train", 16113), ("test", 3084), ("validation", 1838))),
    TaskInfo("boolq", _MC, "super_glue", "boolq", "validation", 3270, 2, ("acc",), version=2.0,
             splits=(("train", 9427), ("validation", 3270), ("test", 3245))),
    TaskInfo("openbookqa", _MC, "openbookqa", "main", "test", 500, 4, ("acc", "acc_norm"),
             splits=(("train", 4957), ("validation", 500), ("test", 500))),
    TaskInfo("sciq", _MC, "sciq", None, "test", 1000, 4, ("acc", "acc_norm"),
             splits=(("train", 11679), ("validation", 1000), ("test", 1000))),
    TaskInfo("truthfulqa_mc1", _MC, "truthful_qa", "multiple_choice", "validation", 817, 5, ("acc",),
             version=2.0, splits=(("validation", 817),)),
    TaskInfo("truthfulqa_mc2", _MC, "truthful_qa", "multiple_choice", "validation", 817, 7, ("acc",),
             version=2.0, splits=(("validation", 817),)),
    TaskInfo("mmlu", _MC, "hails/mmlu_no_train", "all", "test", 14042, 4, ("acc",), version=2.0,
             splits=(("test", 14042), ("validation", 1531), ("dev", 285))),
    TaskInfo("lambada_openai", "loglikelihood", "EleutherAI/lambada_openai", "default", "test", 5153, 1,
             ("perplexity", "acc"), splits=(("test", 5153),)),
    TaskInfo("wikitext", "loglikelihood_rolling", "EleutherAI/wikitext_document_level", "wikitext-2-raw-v1",
             "test", 62, 1, ("word_perplexity", "byte_perplexity", "bits_per_byte"), version=2.0,
             splits=(("test", 62), ("train", 629), ("validation", 60))),
    TaskInfo("gsm8k", _GEN, "gsm8k", "main", "test", 1319, 1, ("exact_match",), version=3.0,
             filters=("strict-match", "flexible-extract"), splits=(("train", 7473), ("test", 1319))),
    TaskInfo("ifeval", _GEN, "google/IFEval", None, "train", 541, 1,
             ("prompt_level_strict_acc", "inst_level_strict_acc"), version=4.0, splits=(("train", 541),)),
    TaskInfo("truthfulqa_gen", _GEN, "truthful_qa", "generation", "validation", 817, 1,
             ("bleu_max", "rouge1_max"), version=3.0, splits=(("validation", 817),)),
)
TASKS: dict[str, TaskInfo] = {t.name: t for t in _TABLE}


def task_info(task: str) -> TaskInfo | None:
    """Known task, or None for custom tasks / Unitxt recipes (tr_N), which we know nothing about."""
    return TASKS.get(task)


def generic_task(task: str) -> TaskInfo:
    """A stand-in for a task we have no YAML for: its type from the shared loglikelihood list."""
    known = task_info(task)
    if known is not None:
        return known
    if needs_loglikelihood(task):
        return TaskInfo(task, _MC, task, None, "test", 500, 4, ("acc",))
    return TaskInfo(task, _GEN, task, None, "test", 100, 1, ("exact_match",))
