"""Issue 13: a plan masks values, not only keys; and ports compare as a set."""

from __future__ import annotations

from coopcloud.ops.deploy.plan import HIDDEN, mask_value, plan_services, service_changes


def svc(env: list[str], labels: dict | None = None, ports: list[dict] | None = None) -> dict:
    spec: dict = {
        "Name": "s_app",
        "Labels": labels or {},
        "TaskTemplate": {"ContainerSpec": {"Image": "nginx:1", "Env": env}},
    }
    if ports is not None:
        spec["EndpointSpec"] = {"Ports": ports}
    return spec


def test_url_passwords_are_starred_wherever_they_are():
    assert mask_value("postgres://u:password@db:5432/x") == "postgres://u:***@db:5432/x"
    assert mask_value("a https://me:pw@h/ and smtp://x:y@m") == "a https://me:***@h/ and smtp://x:***@m"
    assert mask_value("https://example.org/a:b@c") == "https://example.org/a:b@c"  # no userinfo there
    assert mask_value("no url") == "no url"


def test_env_and_labels_never_show_a_url_password_or_a_secret_value():
    live = svc(["DATABASE_URL=postgres://u:old-password@db/x", "DB_PASSWORD=hunter2-long", "COPY=x"])
    desired = svc(
        ["DATABASE_URL=postgres://u:password@db/x", "DB_PASSWORD=hunter3-long", "COPY=hunter3-long"],
        labels={"traefik.auth": "https://admin:s3cret@h/"},
    )
    changes = {c.what: c for c in service_changes(desired, live)}
    text = repr(changes)
    for secret in ("old-password", "password@", "hunter2-long", "hunter3-long", "s3cret"):
        assert secret not in text, (secret, text)
    assert changes["env DATABASE_URL"].after == "postgres://u:***@db/x"
    assert changes["env DB_PASSWORD"].after == HIDDEN
    assert changes["env COPY"].after == HIDDEN  # equal to a secret's value, under an innocent key
    assert changes["label traefik.auth"].after == "https://admin:***@h/"


def test_secret_values_the_caller_knows_are_hidden():
    [plan] = plan_services(
        {"s_app": svc(["GREETING=abc123secret"])},
        {"s_app": svc(["GREETING=hello"])},
        secrets=frozenset({"abc123secret"}),
    )
    assert plan.changes[0].after == HIDDEN and "abc123secret" not in repr(plan.to_json())


def test_ports_in_another_order_are_no_change():
    ports = [
        {"Protocol": p, "TargetPort": t, "PublishedPort": 0, "PublishMode": "ingress"}
        for t in range(8000, 8014)
        for p in ("tcp", "udp")
    ]
    desired = svc([], ports=ports)
    live = svc([], ports=list(reversed(ports)))
    assert service_changes(desired, live) == []
    moved = [dict(p) for p in ports]
    moved[0]["TargetPort"] = 9999
    assert service_changes(svc([], ports=moved), live) != []
