"""One permission a command will use, as a SelfSubjectAccessReview asks about it (`Kube.can_i`): the one
type bootstrap's preflight, revert and provision plan and report their needs in."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass


@dataclass(frozen=True)
class Access:
    verb: str
    group: str
    _: KW_ONLY
    resource: str
    namespace: str | None = None
    name: str | None = None

    def describe(self) -> str:
        what = f"{self.resource}.{self.group}" if self.group else self.resource
        where = f" in namespace {self.namespace}" if self.namespace else " (cluster-scoped)"
        named = f" {self.name!r}" if self.name else ""
        return f"{self.verb} {what}{named}{where}"
