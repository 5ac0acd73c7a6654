"""lmeval-setup: make TrustyAI LM-Eval work on OpenShift AI / Open Data Hub, and explain failures."""

__version__ = "0.1.0"
