"""swarm.service_spec: the one reader of a ServiceSpec body's nested fields."""

from __future__ import annotations

from coopcloud.swarm import service_spec as ss

FULL = {
    "Name": "s_app",
    "Labels": {"coop-cloud.s.version": "1.0.0+1"},
    "Mode": {"Replicated": {"Replicas": 3}},
    "UpdateConfig": {"Monitor": 2_000_000_000},
    "EndpointSpec": {"Ports": [{"TargetPort": 80, "PublishedPort": 8080}]},
    "TaskTemplate": {
        "ForceUpdate": 2,
        "Networks": [{"Target": "proxy"}],
        "Placement": {
            "Constraints": ["node.role==manager"],
            "Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.z"}}, {}],
        },
        "ContainerSpec": {
            "Image": "nginx:1.25@sha256:" + "a" * 64,
            "Labels": {"c": "1"},
            "Env": ["A=1", "B=x=y", "A=2", "EMPTY"],
            "Mounts": [{"Type": "volume", "Source": "data", "Target": "/data"}],
            "Secrets": [{"SecretName": "s_pw_v1", "File": {"Name": "pw"}}],
            "Configs": [{"ConfigName": "s_bare"}],
        },
    },
}


def test_reads_every_field_of_a_full_spec():
    assert ss.image(FULL).startswith("nginx:1.25@sha256:")
    assert ss.labels(FULL) == {"coop-cloud.s.version": "1.0.0+1"}
    assert ss.container_labels(FULL) == {"c": "1"}
    assert ss.env(FULL) == {"A": "2", "B": "x=y", "EMPTY": ""}
    assert [m["Target"] for m in ss.mounts(FULL)] == ["/data"]
    assert [ss.ref_target(r) for r in ss.refs(FULL, "Secrets")] == ["pw"]
    assert [ss.ref_target(r) for r in ss.refs(FULL, "Configs")] == [""]
    assert [n["Target"] for n in ss.networks(FULL)] == ["proxy"]
    assert [p["PublishedPort"] for p in ss.ports(FULL)] == [8080]
    assert ss.replicas(FULL) == "3"
    assert ss.placement(FULL)["Constraints"] == ["node.role==manager"]
    assert ss.spread_descriptors(FULL) == ["node.labels.z", ""]
    assert ss.force_update(FULL) == 2
    assert ss.update_monitor_nanos(FULL) == 2_000_000_000


def test_missing_or_null_levels_read_as_empty():
    for spec in (
        {},
        {"TaskTemplate": None, "Labels": None, "Mode": None, "EndpointSpec": None, "UpdateConfig": None},
        {"TaskTemplate": {"ContainerSpec": None, "Placement": None}},
    ):
        assert ss.image(spec) == "" and ss.env(spec) == {} and ss.labels(spec) == {}
        assert ss.container_labels(spec) == {} and ss.mounts(spec) == [] and ss.refs(spec, "Secrets") == []
        assert ss.networks(spec) == [] and ss.ports(spec) == [] and ss.placement(spec) == {}
        assert ss.spread_descriptors(spec) == [] and ss.force_update(spec) == 0 and ss.update_monitor_nanos(spec) == 0
        assert ss.replicas(spec) == "1"


def test_global_mode_and_top_level_networks():
    assert ss.replicas({"Mode": {"Global": {}}}) == "global"
    assert ss.replicas({"Mode": {"Replicated": {"Replicas": 0}}}) == "0"
    assert [n["Target"] for n in ss.networks({"Networks": [{"Target": "old"}]})] == ["old"]


def test_readers_do_not_change_the_body():
    import copy

    before = copy.deepcopy(FULL)
    ss.env(FULL), ss.mounts(FULL).clear(), ss.networks(FULL).clear(), ss.refs(FULL, "Secrets").clear()
    assert before == FULL
