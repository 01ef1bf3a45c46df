"""What each server runs, for `app ls --status`: ONE services request per server, servers in parallel."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from coopcloud.ops.apps import STACK_LABEL


def deployed_version(client: Any, stack: str) -> str | None:
    """The version label (``coop-cloud.<stack>.version``) of what the stack runs; None when it runs nothing."""
    services = client.services(filters={"label": [f"{STACK_LABEL}={stack}"]})
    for svc in sorted(services, key=lambda s: not s["Spec"]["Name"].endswith("_app")):
        version = ((svc.get("Spec") or {}).get("Labels") or {}).get(f"coop-cloud.{stack}.version")
        if version:
            return version
    return None


def _stacks(client: Any) -> dict[str, dict[str, str]]:
    """stack -> labels of its main service (coop-cloud.<stack>.* labels live there)."""
    out: dict[str, dict[str, str]] = {}
    for svc in client.services():
        labels = (svc.get("Spec") or {}).get("Labels") or {}
        stack = labels.get(STACK_LABEL)
        if not stack:
            continue
        merged = out.setdefault(stack, {})
        # Any service of the stack may carry the coop-cloud labels; the app service normally does.
        merged.update({k: v for k, v in labels.items() if k.startswith(f"coop-cloud.{stack}.")})
    return out


def deployed_status(pool: Any, rows: list[dict]) -> None:
    """Fill status/deployed/chaos/differs into each row (dicts with server, app, version)."""
    servers = sorted({r["server"] for r in rows})

    def ask(server: str) -> tuple[str, dict | None, str | None]:
        try:
            return server, _stacks(pool.client(server)), None
        except Exception as exc:  # one unreachable server marks its apps unknown, the rest still print
            return server, None, str(exc)

    with ThreadPoolExecutor(max_workers=max(1, min(8, len(servers)))) as ex:
        answers = {s: (stacks, err) for s, stacks, err in ex.map(ask, servers)}
    for row in rows:
        stacks, err = answers[row["server"]]
        stack = row["app"].replace(".", "_")
        if stacks is None:
            row.update(status="unknown", deployed=None, chaos=None, differs=None, error=row.get("error") or err)
            continue
        labels = stacks.get(stack)
        if labels is None:
            row.update(status="undeployed", deployed=None, chaos=None, differs=None)
            continue
        deployed = labels.get(f"coop-cloud.{stack}.version")
        chaos = labels.get(f"coop-cloud.{stack}.chaos") == "true"
        row.update(
            status="deployed",
            deployed=deployed,
            chaos=chaos,
            differs=bool(row.get("version")) and deployed != row.get("version"),
        )
