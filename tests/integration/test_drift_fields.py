"""Drift sees every field coop sets (issue 18, item 3): for each settable field of a service spec, a
hand-made `docker service update` of it is reported by `coop app diff` (exit 13, by name), and one
`coop app deploy --force` puts the service back exactly as coop deployed it; an unchanged redeploy
shows no drift and restarts nothing, although the engine fills in defaults coop never sends.

One stack, many updates: the flags go in small batches (one `docker service update` each, not
waiting for swarm), and each batch is checked by one diff.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from live_app import free_port, new_app, web_recipe

pytestmark = pytest.mark.integration


# (flags of one `docker service update`, what `coop app diff` must name for them)
def batches(stack: str) -> list[tuple[list[str], list[str]]]:
    return [
        (["--args", "httpd -f -p 8080 -h /www -v"], ["command"]),
        (["--user", "nobody", "--group-add", "100", "--workdir", "/tmp"], ["user", "groups", "working directory"]),
        (["--cap-add", "NET_ADMIN", "--cap-drop", "MKNOD"], ["capabilities"]),
        (["--entrypoint", "/bin/sh -c"], ["entrypoint"]),
        (["--health-cmd", "true", "--health-interval", "7s"], ["healthcheck command", "healthcheck interval"]),
        (["--update-failure-action", "rollback", "--update-parallelism", "3"], ["update config"]),
        (["--rollback-order", "start-first"], ["rollback config"]),
        (["--read-only", "--init", "--tty"], ["read-only root filesystem", "init", "tty"]),
        (["--sysctl-add", "net.ipv4.ip_forward=1", "--ulimit-add", "nofile=1000:1000"], ["sysctls", "ulimits"]),
        (
            ["--hostname", "hand-made", "--host-add", "hand.example:10.9.9.9", "--dns-add", "10.9.9.9"],
            ["hostname", "extra hosts", "DNS settings"],
        ),
        (["--stop-signal", "SIGUSR1", "--stop-grace-period", "3s"], ["stop signal", "stop grace period"]),
        (["--restart-condition", "on-failure", "--restart-max-attempts", "4"], ["restart policy"]),
        (["--limit-memory", "64M", "--reserve-cpu", "0.01"], ["resource limits", "resource reservations"]),
        (["--log-driver", "json-file", "--log-opt", "max-size=1m"], ["logging"]),
        (["--env-add", "HAND=made", "--env-rm", "GREETING"], ["env HAND", "env GREETING"]),
        (["--label-add", "hand=made", "--container-label-add", "hand=made"], ["label hand", "container label hand"]),
        (["--mount-add", "type=tmpfs,target=/hand"], ["mounts"]),
        (["--publish-add", "published=18999,target=81,mode=host"], ["ports"]),
        (["--constraint-add", "node.role==manager", "--replicas-max-per-node", "2"], ["placement"]),
        (["--network-rm", f"{stack}_internal"], ["networks"]),
        (["--restart-delay", "7s", "--restart-window", "1m"], ["restart policy"]),
        (["--update-delay", "3s", "--update-order", "start-first", "--update-monitor", "2s"], ["update config"]),
        (["--placement-pref-add", "spread=node.id"], ["placement"]),
        (
            ["--health-timeout", "3s", "--health-retries", "9", "--health-start-period", "4s"],
            ["healthcheck timeout", "healthcheck retries", "healthcheck start period"],
        ),
        (["--limit-cpu", "0.5", "--reserve-memory", "8M", "--limit-pids", "100"], ["resource limits"]),
        (["--dns-search-add", "example.org", "--dns-option-add", "ndots:2"], ["DNS settings"]),
        (["--secret-rm", f"{stack}_api_key_v1"], [f"secret {stack}_api_key_v1"]),
        (["--config-rm", f"{stack}_motd_v1"], [f"config {stack}_motd_v1"]),
        (["--replicas", "0"], ["replicas"]),
    ]


# Fields the engine fills in itself that no comparison may count as drift (ids, versions, times).
_VOLATILE = ("Version", "UpdatedAt", "CreatedAt", "UpdateStatus", "PreviousSpec", "Endpoint", "ServiceStatus")


def live_spec(service: str) -> dict:
    out = subprocess.run(["docker", "service", "inspect", service], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)[0]["Spec"]


def hand_update(service: str, flags: list[str]) -> None:
    p = subprocess.run(["docker", "service", "update", "--detach", *flags, service], capture_output=True, text=True)
    assert p.returncode == 0, (flags, p.stderr)


def test_every_hand_made_field_is_drift_and_a_deploy_undoes_it(
    coop, tmp_path, stack_name, local_engine_socket, registry
):
    assert coop("server", "add", "--local").code == 0
    app = new_app(coop, tmp_path, stack_name, "default", web_recipe(free_port()))
    assert coop("app", "deploy", app).code == 0
    service = f"{app}_app"
    deployed = live_spec(service)

    # What the engine filled in (restart policy, update and rollback config, stop grace...) is no drift,
    # and an unchanged redeploy changes and restarts nothing.
    r = coop("app", "diff", app)
    assert r.code == 0 and "no drift" in r.out, r
    r = coop("app", "deploy", app, "--force", "--dry-run", "--json")
    assert r.code == 0, r
    assert {s["name"]: s["action"] for s in json.loads(r.out)["plan"]["services"]} == {service: "unchanged"}

    for flags, words in batches(app):
        hand_update(service, flags)
        r = coop("app", "diff", app, "--json")
        assert r.code == 13, (flags, r)
        [svc] = [s for s in json.loads(r.out)["plan"]["services"] if s["name"] == service]
        assert svc["action"] == "update", (flags, svc)
        shown = {c["what"] for c in svc["changes"]} | {
            w for c in svc["changes"] if c["what"] == "other settings" for w in c["after"].split(", ")
        }
        missing = [w for w in words if w not in shown]
        assert not missing, (flags, missing, svc["changes"])

    r = coop("app", "deploy", app, "--force", "--dry-run", "--json")
    [svc] = [s for s in json.loads(r.out)["plan"]["services"] if s["name"] == service]
    assert svc["restarts"] is True  # the task template changed: its tasks must be replaced

    r = coop("app", "deploy", app, "--force")
    assert r.code == 0, r
    r = coop("app", "diff", app)
    assert r.code == 0 and "no drift" in r.out, r
    # Put back exactly: the live spec is the one coop deployed, field for field.
    undone = live_spec(service)
    for key in _VOLATILE:
        undone.pop(key, None)
        deployed.pop(key, None)
    assert undone == deployed
