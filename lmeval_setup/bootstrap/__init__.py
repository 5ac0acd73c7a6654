"""Bootstrap: enable TrustyAI LM-Eval, version-aware and idempotent, through an Ansible role.

plan.py decides what must change, preflight.py checks RBAC before the first write, revert.py records
prior values on the cluster and restores them, restart.py restarts the operator only when its pod
has not loaded the current configuration, wait.py waits on what each release reports, and runner.py
drives the playbooks through ansible-runner.
"""
