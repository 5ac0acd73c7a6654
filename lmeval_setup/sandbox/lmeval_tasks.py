"""Enough of lm-eval's task YAMLs to write plausible logs and results files in the sandbox.

Which tasks need loglikelihood is NOT decided here: that lives in lmeval_setup/rules/tasks.py, the
one list shared with lint and the doctor. This table only adds what a log or a results file shows:
dataset id (v0.4.8 task YAMLs, as in the TrustyAI job image: `hellaswag`, `gsm8k`,
`hails/mmlu_no_train` rather than v0.4.12's repo ids), split sizes, choices and metrics.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass

from lmeval_setup.rules.tasks import needs_loglikelihood


@dataclass(frozen=True)
class TaskInfo:
    name: str
    output_type: str
    _: KW_ONLY
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
    TaskInfo("arc_easy", _MC, dataset_path="allenai/ai2_arc", dataset_name="ARC-Easy", eval_split="test", n_docs=2376,
             choices=4, metrics=("acc", "acc_norm"),
             splits=(("train", 2251), ("test", 2376), ("validation", 570))),
    TaskInfo("arc_challenge", _MC, dataset_path="allenai/ai2_arc", dataset_name="ARC-Challenge", eval_split="test",
             n_docs=1172, choices=4, metrics=("acc", "acc_norm"),
             splits=(("train", 1119), ("test", 1172), ("validation", 299))),
    TaskInfo("hellaswag", _MC, dataset_path="hellaswag", dataset_name=None, eval_split="validation", n_docs=10042,
             choices=4, metrics=("acc", "acc_norm"),
             splits=(("train", 39905), ("test", 10003), ("validation", 10042))),
    TaskInfo("winogrande", _MC, dataset_path="winogrande", dataset_name="winogrande_xl", eval_split="validation",
             n_docs=1267, choices=2, metrics=("acc",),
             splits=(("train", 40398), ("test", 1767), ("validation", 1267))),
    TaskInfo("piqa", _MC, dataset_path="piqa", dataset_name=None, eval_split="validation", n_docs=1838, choices=2,
             metrics=("acc", "acc_norm"),
             splits=(("train", 16113), ("test", 3084), ("validation", 1838))),
    TaskInfo("boolq", _MC, dataset_path="super_glue", dataset_name="boolq", eval_split="validation", n_docs=3270,
             choices=2, metrics=("acc",), version=2.0,
             splits=(("train", 9427), ("validation", 3270), ("test", 3245))),
    TaskInfo("openbookqa", _MC, dataset_path="openbookqa", dataset_name="main", eval_split="test", n_docs=500,
             choices=4, metrics=("acc", "acc_norm"),
             splits=(("train", 4957), ("validation", 500), ("test", 500))),
    TaskInfo("sciq", _MC, dataset_path="sciq", dataset_name=None, eval_split="test", n_docs=1000, choices=4,
             metrics=("acc", "acc_norm"),
             splits=(("train", 11679), ("validation", 1000), ("test", 1000))),
    TaskInfo("truthfulqa_mc1", _MC, dataset_path="truthful_qa", dataset_name="multiple_choice",
             eval_split="validation", n_docs=817, choices=5, metrics=("acc",),
             version=2.0, splits=(("validation", 817),)),
    TaskInfo("truthfulqa_mc2", _MC, dataset_path="truthful_qa", dataset_name="multiple_choice",
             eval_split="validation", n_docs=817, choices=7, metrics=("acc",),
             version=2.0, splits=(("validation", 817),)),
    TaskInfo("mmlu", _MC, dataset_path="hails/mmlu_no_train", dataset_name="all", eval_split="test", n_docs=14042,
             choices=4, metrics=("acc",), version=2.0,
             splits=(("test", 14042), ("validation", 1531), ("dev", 285))),
    TaskInfo("lambada_openai", "loglikelihood", dataset_path="EleutherAI/lambada_openai", dataset_name="default",
             eval_split="test", n_docs=5153, choices=1,
             metrics=("perplexity", "acc"), splits=(("test", 5153),)),
    TaskInfo("wikitext", "loglikelihood_rolling", dataset_path="EleutherAI/wikitext_document_level",
             dataset_name="wikitext-2-raw-v1",
             eval_split="test", n_docs=62, choices=1, metrics=("word_perplexity", "byte_perplexity", "bits_per_byte"),
             version=2.0,
             splits=(("test", 62), ("train", 629), ("validation", 60))),
    TaskInfo("gsm8k", _GEN, dataset_path="gsm8k", dataset_name="main", eval_split="test", n_docs=1319, choices=1,
             metrics=("exact_match",), version=3.0,
             filters=("strict-match", "flexible-extract"), splits=(("train", 7473), ("test", 1319))),
    TaskInfo("ifeval", _GEN, dataset_path="google/IFEval", dataset_name=None, eval_split="train", n_docs=541, choices=1,
             metrics=("prompt_level_strict_acc", "inst_level_strict_acc"), version=4.0, splits=(("train", 541),)),
    TaskInfo("truthfulqa_gen", _GEN, dataset_path="truthful_qa", dataset_name="generation", eval_split="validation",
             n_docs=817, choices=1,
             metrics=("bleu_max", "rouge1_max"), version=3.0, splits=(("validation", 817),)),
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
        return TaskInfo(task, _MC, dataset_path=task, dataset_name=None, eval_split="test", n_docs=500, choices=4,
                        metrics=("acc",))
    return TaskInfo(task, _GEN, dataset_path=task, dataset_name=None, eval_split="test", n_docs=100, choices=1,
                    metrics=("exact_match",))
