"""Record real engine JSON into tests/data/engine/ (run by hand on the rig; the output is committed).

    .venv/bin/python -m tests.tools.record_engine

Creates objects named ``rec12_*`` labelled ``coop.test=record-engine``, drives services into the
update/task states the views must read (running, failed, pending with an Err, rejected, update
completed/paused/rollback_completed/updating), writes what the Engine API answers (list endpoints,
as ops reads them), then removes everything it created (by that label only).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from coopcloud.engine.client import connect

OUT = Path(__file__).resolve().parents[1] / "data" / "engine"
LABEL = "coop.test=record-engine"
WEB = "127.0.0.1:5000/coop-test/web"
SLEEPER = "127.0.0.1:5000/coop-test/db:10.5"


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout.strip()


def service(name: str, *args: str) -> None:
    docker("service", "create", "--detach", "--name", name, "--label", LABEL, *args)


def wait(predicate: Any, what: str, timeout: float = 90) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what}")


def update_state(client: Any, name: str) -> str | None:
    return (client.service(name).get("UpdateStatus") or {}).get("State")


def dump(name: str, data: Any) -> None:
    (OUT / f"{name}.json").write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def cleanup() -> None:
    for kind in ("service", "secret", "config", "network", "volume"):
        ids = docker(kind, "ls", "-q", "--filter", f"label={LABEL}").split()
        if ids:
            subprocess.run(["docker", kind, "rm", *ids], capture_output=True)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    cleanup()
    client = connect("unix:///var/run/docker.sock")
    docker(
        "network",
        "create",
        "--driver",
        "overlay",
        "--attachable",
        "--label",
        LABEL,
        "--label",
        "coop.stack=rec12",
        "rec12_net",
    )
    docker("volume", "create", "--label", LABEL, "--label", "com.docker.stack.namespace=rec12", "rec12_data")
    subprocess.run(
        ["docker", "secret", "create", "--label", LABEL, "rec12_pw_v1", "-"],
        input="s3cret",
        text=True,
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["docker", "config", "create", "--label", LABEL, "--template-driver", "golang", "rec12_conf_v1", "-"],
        input='port={{ env "PORT" }}\n',
        text=True,
        check=True,
        capture_output=True,
    )
    service(
        "rec12_app",
        "--network",
        "rec12_net",
        "--secret",
        "rec12_pw_v1",
        "--config",
        "source=rec12_conf_v1,target=/etc/app.conf",
        "--mount",
        "type=volume,source=rec12_data,target=/data",
        "--publish",
        "published=18612,target=8080,mode=host",
        "--publish",
        "published=18613,target=8080",
        "--label",
        "coop-cloud.rec12.timeout=120",
        WEB + ":1.0.0",
    )
    service("rec12_global", "--mode", "global", SLEEPER)
    service("rec12_fails", "--restart-max-attempts", "2", "--restart-delay", "1s", SLEEPER, "sh", "-c", "exit 3")
    service("rec12_pending", "--constraint", "node.labels.rec12==nowhere", SLEEPER)
    service("rec12_noimage", "--no-resolve-image", "127.0.0.1:5000/coop-test/nope:1")
    service("rec12_done", WEB + ":1.0.0")
    service("rec12_paused", "--update-failure-action", "pause", "--update-monitor", "3s", WEB + ":1.0.0")
    service(
        "rec12_rolledback",
        "--update-failure-action",
        "rollback",
        "--update-monitor",
        "3s",
        "--rollback-monitor",
        "1s",
        WEB + ":1.0.0",
    )
    service("rec12_updating", "--replicas", "2", "--update-delay", "300s", "--update-parallelism", "1", WEB + ":1.0.0")
    running = ("rec12_app", "rec12_done", "rec12_paused", "rec12_rolledback", "rec12_updating", "rec12_global")

    def all_running() -> bool:
        status = {s["Spec"]["Name"]: s.get("ServiceStatus") or {} for s in client.services(status=True)}
        return all(
            status.get(n, {}).get("RunningTasks", 0) >= status.get(n, {}).get("DesiredTasks", 1) for n in running
        )

    wait(all_running, "services running")
    docker("service", "update", "--detach", "--image", WEB + ":1.1.0", "rec12_done")
    for name in ("rec12_paused", "rec12_rolledback"):
        docker("service", "update", "--detach", "--image", SLEEPER, "--args", "sh -c 'exit 1'", name)
    docker("service", "update", "--detach", "--image", WEB + ":1.1.0", "rec12_updating")
    wait(lambda: update_state(client, "rec12_done") == "completed", "rec12_done completed")
    wait(lambda: update_state(client, "rec12_paused") == "paused", "rec12_paused paused")
    wait(lambda: update_state(client, "rec12_rolledback") == "rollback_completed", "rec12_rolledback rolled back")
    wait(
        lambda: len([t for t in client.tasks({"service": "rec12_fails"}) if t["Status"]["State"] == "failed"]) >= 2,
        "failed tasks",
    )
    wait(lambda: any(t["Status"].get("Err") for t in client.tasks({"service": "rec12_pending"})), "pending Err")
    wait(
        lambda: any(t["Status"]["State"] == "rejected" for t in client.tasks({"service": "rec12_noimage"})),
        "rejected task",
    )
    wait(lambda: update_state(client, "rec12_updating") == "updating", "rec12_updating updating")

    label = {"label": [LABEL]}
    dump("services", client.services(label, status=True))
    dump("service_inspect", client.service("rec12_app"))
    dump("tasks", client.tasks(label))
    dump("nodes", client.nodes())
    dump("secrets", client.secrets(label))
    dump("configs", client.configs(label))
    dump("networks", client.networks(label))
    dump("volumes", client.volumes(label))
    # /info and a container list hold the host's whole inventory: kept to the keys views read.
    info = client.info()
    swarm = info.get("Swarm") or {}
    dump(
        "info",
        {
            **{k: info.get(k) for k in ("SystemTime", "ServerVersion", "Name", "OSType", "Architecture")},
            "Swarm": {
                k: swarm.get(k)
                for k in (
                    "NodeID",
                    "NodeAddr",
                    "LocalNodeState",
                    "ControlAvailable",
                    "Error",
                    "RemoteManagers",
                    "Nodes",
                    "Managers",
                )
            },
        },
    )
    dump(
        "containers",
        [
            {k: c.get(k) for k in ("Id", "Names", "Image", "Created", "Labels", "State", "Status", "Command")}
            for c in client.containers({"label": ["com.docker.swarm.service.name=rec12_app"]}, all=True)
        ],
    )
    client.close()
    cleanup()


if __name__ == "__main__":
    main()
