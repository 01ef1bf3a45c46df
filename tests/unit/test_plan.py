from coopcloud.ops.plan import plan_services, same_spec, service_changes


def spec(**over):
    s = {
        "Name": "s_app",
        "Labels": {"com.docker.stack.namespace": "s"},
        "TaskTemplate": {
            "ContainerSpec": {"Image": "web:1.0@sha256:aa", "Env": ["A=1", "DB_PASSWORD=x"], "Labels": {}},
        },
        "Mode": {"Replicated": {"Replicas": 1}},
    }
    for k, v in over.items():
        s[k] = v
    return s


def live_of(s):
    """What the engine returns for a spec: its own defaults added."""
    import copy

    l = copy.deepcopy(s)
    l["TaskTemplate"]["ContainerSpec"]["Isolation"] = "default"
    l["TaskTemplate"]["ForceUpdate"] = 0
    l["TaskTemplate"]["Runtime"] = "container"
    return l


def test_engine_defaults_are_not_changes():
    assert same_spec(spec(), live_of(spec()))
    assert service_changes(spec(), live_of(spec())) == []
    [p] = plan_services({"s_app": spec()}, {"s_app": live_of(spec())})
    assert p.action == "unchanged"


def test_create_and_orphans():
    plans = plan_services({"s_new": spec()}, {"s_old": spec()}, remove_orphans=True)
    assert [(p.name, p.action) for p in plans] == [("s_new", "create"), ("s_old", "remove")]


def test_image_env_replicas_changes_with_secret_values_hidden():
    new = spec(Mode={"Replicated": {"Replicas": 3}})
    new["TaskTemplate"]["ContainerSpec"]["Image"] = "web:1.1@sha256:bb"
    new["TaskTemplate"]["ContainerSpec"]["Env"] = ["A=2", "DB_PASSWORD=y"]
    changes = {c.what: (c.before, c.after) for c in service_changes(new, live_of(spec()))}
    assert changes["image"] == ("web:1.0@sha256:aa", "web:1.1@sha256:bb")
    assert changes["env A"] == ("1", "2")
    assert changes["env DB_PASSWORD"] == ("(hidden)", "(hidden)")
    assert changes["replicas"] == ("1", "3")
    assert "x" not in repr(changes["env DB_PASSWORD"]) and "y" not in repr(changes["env DB_PASSWORD"])


def test_unpinned_desired_image_compares_by_tag():
    new = spec()
    new["TaskTemplate"]["ContainerSpec"]["Image"] = "web:1.0"
    assert service_changes(new, live_of(spec())) == []


def test_secret_version_change_is_named():
    old, new = spec(), spec()
    old["TaskTemplate"]["ContainerSpec"]["Secrets"] = [{"SecretName": "s_db_v1", "SecretID": "x", "File": {"Name": "db"}}]
    new["TaskTemplate"]["ContainerSpec"]["Secrets"] = [{"SecretName": "s_db_v2", "File": {"Name": "db"}}]
    whats = {c.what for c in service_changes(new, live_of(old))}
    assert whats == {"secret s_db_v1", "secret s_db_v2"}


def test_other_settings_change_is_still_a_change():
    new = spec()
    new["TaskTemplate"]["ContainerSpec"]["Args"] = ["sleep", "5"]
    [c] = service_changes(new, live_of(spec()))
    assert c.what == "other settings"


def test_removed_healthcheck_is_a_change():
    old = spec()
    old["TaskTemplate"]["ContainerSpec"]["Healthcheck"] = {"Test": ["CMD", "true"]}
    assert service_changes(spec(), live_of(old)) != []


def test_engine_filled_endpoint_and_replica_defaults_are_not_changes():
    desired = spec(Mode={"Replicated": {}}, EndpointSpec={"Ports": [{"TargetPort": 80, "PublishedPort": 8080}]})
    live = live_of(spec(Mode={"Replicated": {"Replicas": 1}},
                        EndpointSpec={"Mode": "vip", "Ports": [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080}]}))
    assert service_changes(desired, live) == []
    live2 = live_of(spec(Mode={"Replicated": {"Replicas": 2}}))
    assert [c.what for c in service_changes(spec(Mode={"Replicated": {}}), live2)] == ["replicas"]


def test_spec_hash_decides_when_present():
    from coopcloud.ops.plan import SPEC_HASH_LABEL, spec_hash

    desired = spec()
    desired["Labels"][SPEC_HASH_LABEL] = spec_hash(desired)
    live = live_of(desired)
    live["TaskTemplate"]["RestartPolicy"] = {"Condition": "any", "Delay": 5000000000}  # engine-filled
    assert service_changes(desired, live) == []
    # The same hash and the digest-less desired image: still unchanged.
    unpinned = spec()
    unpinned["TaskTemplate"]["ContainerSpec"]["Image"] = "web:1.0"
    unpinned["Labels"][SPEC_HASH_LABEL] = spec_hash(unpinned)
    assert spec_hash(unpinned) == spec_hash(desired)
    assert service_changes(unpinned, live) == []
    # A real change outside the facets is reported, by path.
    changed = spec()
    changed["TaskTemplate"]["ContainerSpec"]["User"] = "nobody"
    changed["Labels"][SPEC_HASH_LABEL] = spec_hash(changed)
    [c] = service_changes(changed, live)
    assert c.what == "other settings" and "TaskTemplate.ContainerSpec.User" in c.after
