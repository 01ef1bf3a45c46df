"""The backupbot hooks: `sh -c` in a running container of the service, on whichever node runs it."""

from __future__ import annotations

from collections.abc import Callable

from coopcloud.domain.app import AppRef
from coopcloud.engine.protocol import Engine

from .labels import ServiceBackup
from .restic import BackupFailed

# The engine of the node that runs a service's task (ops.server.nodes.engine_for_service), for hooks on
# another node than the manager's; None: the manager's own engine.
EngineFor = Callable[[str], Engine]
# The engine of a swarm node, by node id (ops.server.nodes.engine_for_node): where a download's job runs.
NodeEngine = Callable[[str], Engine]


HOOK_OUTPUT_KEPT = 64 * 1024


def run_hook(
    client: Engine, ref: AppRef, svc: ServiceBackup, which: str, hook: str, *, engine_for: EngineFor | None = None
) -> None:
    """Run a hook with `sh -c` in a running container of the service; a non-zero exit raises BackupFailed."""
    from coopcloud.ops.app import container

    tail = bytearray()  # only the end of the output, for the error line: a hook may print a whole dump

    def keep_tail(_stream: str, data: bytes) -> None:
        tail.extend(data)
        if len(tail) > 2 * HOOK_OUTPUT_KEPT:
            del tail[:-HOOK_OUTPUT_KEPT]

    engine = engine_for(svc.service) if engine_for is not None else client
    code = container.run(engine, ref, svc.service, ["sh", "-c", hook], on_output=keep_tail)
    if code != 0:
        text = bytes(tail[-HOOK_OUTPUT_KEPT:]).decode("utf-8", "replace").strip().splitlines()
        last = f": {text[-1].strip()[-300:]}" if text else ""
        raise BackupFailed(
            f"app {ref.name}: service {svc.service}: {which} failed (exit code {code}){last}",
            hint=f"check the label backupbot.{which.replace(' ', '.')} of service {svc.service}",
        )
