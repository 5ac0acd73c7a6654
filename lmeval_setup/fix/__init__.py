"""Remediation: the catalog's fix data applied to jobs (engine), with values inferred from the cluster
(values), for doctor --fix, lint --fix and provision --fix. Rules stay pure; this package consumes findings."""
