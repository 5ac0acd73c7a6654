"""lm-eval results documents (the shape `status.results` carries) for the provision/results tests."""

from __future__ import annotations

import json
from typing import Any


def results_document(model: str, arc_norm: float, hella_norm: float, seconds: float = 754.2) -> dict[str, Any]:
    return {
        "results": {
            "arc_easy": {
                "alias": "arc_easy", "acc,none": arc_norm - 0.03, "acc_stderr,none": 0.0095,
                "acc_norm,none": arc_norm, "acc_norm_stderr,none": 0.0101,
            },
            "hellaswag": {
                "alias": "hellaswag", "acc,none": hella_norm - 0.05, "acc_stderr,none": 0.0049,
                "acc_norm,none": hella_norm, "acc_norm_stderr,none": 0.0042,
            },
        },
        "configs": {"arc_easy": {"task": "arc_easy"}},
        "n-samples": {"arc_easy": {"original": 2376, "effective": 100}},
        "config": {
            "model": "local-completions",
            "model_args": f"model={model},base_url=http://{model}-predictor:8080/v1/completions,"
                          "tokenizer=ibm-granite/granite-3.1-8b-instruct,num_concurrent=1",
        },
        "total_evaluation_time_seconds": str(seconds),
    }


def completed_job(name: str, namespace: str, document: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "trustyai.opendatahub.io/v1alpha1", "kind": "LMEvalJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"model": "local-completions", "taskList": {"taskNames": ["arc_easy", "hellaswag"]}},
        "status": {"state": "Complete", "reason": "Succeeded", "message": "job completed",
                   "results": json.dumps(document)},
    }
