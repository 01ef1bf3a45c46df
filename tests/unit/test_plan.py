from coopcloud.ops.deploy.plan import plan_services, same_spec, service_changes


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
    old["TaskTemplate"]["ContainerSpec"]["Secrets"] = [
        {"SecretName": "s_db_v1", "SecretID": "x", "File": {"Name": "db"}}
    ]
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
    live = live_of(
        spec(
            Mode={"Replicated": {"Replicas": 1}},
            EndpointSpec={"Mode": "vip", "Ports": [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080}]},
        )
    )
    assert service_changes(desired, live) == []
    live2 = live_of(spec(Mode={"Replicated": {"Replicas": 2}}))
    assert [c.what for c in service_changes(spec(Mode={"Replicated": {}}), live2)] == ["replicas"]


def test_engine_filled_settings_are_no_change_whatever_the_hash():
    from coopcloud.ops.deploy.plan import SPEC_HASH_LABEL, spec_hash

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
    assert c.what == "other settings" and "user" in c.after.split(", ")
    assert "TaskTemplate.ContainerSpec.User" in c.paths


def test_a_changed_command_or_healthcheck_is_shown_beside_a_changed_label():
    # A release changes its version label: the command and healthcheck it also changes must not hide.
    live = hashed(spec(Labels={"com.docker.stack.namespace": "s", "coop-cloud.s.version": "1.0.0+1"}))
    desired = spec(Labels={"com.docker.stack.namespace": "s", "coop-cloud.s.version": "1.1.0+1"})
    desired["TaskTemplate"]["ContainerSpec"]["Args"] = ["sh", "-c", "exit 1"]
    desired["TaskTemplate"]["ContainerSpec"]["Healthcheck"] = {"Test": ["CMD", "true"]}
    desired["TaskTemplate"]["ContainerSpec"]["Env"] = ["A=2", "DB_PASSWORD=x"]
    changes = service_changes(hashed(desired), live)
    assert [c.what for c in changes] == ["env A", "label coop-cloud.s.version", "other settings"], changes
    assert changes[-1].after == "command, healthcheck"  # in words; the spec's paths under --debug
    assert changes[-1].paths == ("TaskTemplate.ContainerSpec.Args", "TaskTemplate.ContainerSpec.Healthcheck")


# -- taking over services coop did not deploy (no spec hash) -----------------------------------


def abra_live(desired):
    """What the engine holds for `desired` when `docker stack deploy` (resolve-image always) sent it."""
    live = live_of(desired)
    live["Labels"].pop("coop.spec-hash", None)
    tt = live["TaskTemplate"]
    tt["ContainerSpec"]["Privileges"] = {"CredentialSpec": None, "SELinuxContext": None}
    tt["Placement"] = {"Platforms": [{"Architecture": "amd64", "OS": "linux"}]}
    live["EndpointSpec"] = {"Mode": "vip"}
    if "UpdateConfig" in live:
        live["UpdateConfig"].update(FailureAction="pause", MaxFailureRatio=0, Order="stop-first")
    return live


def hashed(s):
    from coopcloud.ops.deploy.plan import SPEC_HASH_LABEL, spec_hash

    s["Labels"][SPEC_HASH_LABEL] = spec_hash(s)
    return s


def test_what_docker_fills_in_is_not_a_change_and_coops_labels_are_bookkeeping():
    desired = hashed(spec(UpdateConfig={"Parallelism": 1, "Monitor": 1000000000}))
    live = abra_live(spec(UpdateConfig={"Parallelism": 1, "Monitor": 1000000000}))
    assert service_changes(desired, live) == []
    [p] = plan_services({"s_app": desired}, {"s_app": live})
    assert (p.action, p.restarts) == ("bookkeeping", False)
    assert [c.what for c in p.changes] == ["label coop.spec-hash"]


def test_platforms_coop_resolved_match_dockers_and_unresolved_ones_are_not_a_change():
    pinned = spec()
    pinned["TaskTemplate"]["Placement"] = {"Platforms": [{"Architecture": "amd64", "OS": "linux"}]}
    assert service_changes(hashed(pinned), abra_live(spec())) == []
    unpinned = spec()
    unpinned["TaskTemplate"]["ContainerSpec"]["Image"] = "web:1.0"  # the registry did not answer
    assert service_changes(hashed(unpinned), abra_live(spec())) == []
    other = spec()
    other["TaskTemplate"]["Placement"] = {"Platforms": [{"Architecture": "arm64", "OS": "linux"}]}
    assert [c.what for c in service_changes(hashed(other), abra_live(spec()))] == ["other settings"]


def test_platforms_do_not_enter_the_spec_hash():
    from coopcloud.ops.deploy.plan import spec_hash

    with_platforms = spec()
    with_platforms["TaskTemplate"]["Placement"] = {"Platforms": [{"OS": "linux"}]}
    assert spec_hash(with_platforms) == spec_hash(spec())
    constrained = spec()
    constrained["TaskTemplate"]["Placement"] = {"Constraints": ["node.role==manager"]}
    both = spec()
    both["TaskTemplate"]["Placement"] = {"Constraints": ["node.role==manager"], "Platforms": [{"OS": "linux"}]}
    assert spec_hash(both) == spec_hash(constrained) != spec_hash(spec())


def test_real_differences_still_show_on_a_service_coop_did_not_deploy():
    live = abra_live(spec())
    live["TaskTemplate"]["ContainerSpec"]["Privileges"] = {"SELinuxContext": {"User": "u"}}
    assert [c.what for c in service_changes(hashed(spec()), live)] == ["other settings"]
    live = abra_live(spec())
    live["EndpointSpec"] = {"Mode": "dnsrr"}
    assert [c.what for c in service_changes(hashed(spec()), live)] == ["other settings"]
    live = abra_live(spec())
    live["Labels"]["traefik.enable"] = "true"
    [c] = service_changes(hashed(spec()), live)
    assert (c.what, c.before, c.after) == ("label traefik.enable", "true", None)


def test_service_level_updates_restart_nothing_and_keep_the_live_task_template():
    from coopcloud.ops.deploy.plan import restarts_tasks, with_live_tasks

    live = abra_live(spec())
    relabelled = hashed(spec(Labels={"com.docker.stack.namespace": "s", "traefik.enable": "true"}))
    scaled = hashed(spec(Mode={"Replicated": {"Replicas": 3}}))
    for desired in (relabelled, scaled):
        [p] = plan_services({"s_app": desired}, {"s_app": live})
        assert (p.action, p.restarts) == ("update", False)
        body = with_live_tasks(desired, live)
        assert body["TaskTemplate"] is live["TaskTemplate"] and body["EndpointSpec"] is live["EndpointSpec"]
        assert body["Labels"] == desired["Labels"] and body["Mode"] == desired["Mode"]
    new_image = spec()
    new_image["TaskTemplate"]["ContainerSpec"]["Image"] = "web:1.1@sha256:bb"
    new_env = spec()
    new_env["TaskTemplate"]["ContainerSpec"]["Env"] = ["A=2"]
    ports = spec(EndpointSpec={"Ports": [{"TargetPort": 80, "PublishedPort": 8080}]})
    for desired in (new_image, new_env, ports):
        assert restarts_tasks(hashed(desired), live)
        [p] = plan_services({"s_app": hashed(desired)}, {"s_app": live})
        assert (p.action, p.restarts) == ("update", True)


def test_a_hand_made_change_is_seen_though_the_spec_hash_label_is_unchanged():
    from coopcloud.ops.deploy.plan import SPEC_HASH_LABEL, spec_hash

    sent = spec()
    sent["Labels"][SPEC_HASH_LABEL] = spec_hash(sent)
    live = live_of(sent)  # `docker service update` keeps our labels...
    live["TaskTemplate"]["ContainerSpec"]["Env"].append("HAND=made")  # ...and changes what runs
    live["TaskTemplate"]["Placement"] = {"Constraints": ["node.role==manager"]}
    changes = {c.what: (c.before, c.after) for c in service_changes(sent, live)}
    assert changes["env HAND"] == ("made", None)
    assert changes["placement"] == ("constraint node.role==manager", None)
    assert service_changes(sent, live_of(sent)) == []


def test_what_the_engine_stores_for_settings_left_out_is_no_change_and_a_hand_made_one_is():
    """The engine stores a restart policy, update and rollback configs and a stop grace period for a
    service sent without them (as Docker 20.10 to 27 do); a hand-made change of any of them is drift,
    though coop's spec-hash label is unchanged."""
    from coopcloud.ops.deploy.plan import SPEC_HASH_LABEL, restarts_tasks, spec_hash

    sent = spec()
    sent["Labels"][SPEC_HASH_LABEL] = spec_hash(sent)
    live = live_of(sent)
    filled = {"Parallelism": 1, "FailureAction": "pause", "Monitor": 5_000_000_000, "MaxFailureRatio": 0}
    live["UpdateConfig"] = {**filled, "Order": "stop-first"}
    live["RollbackConfig"] = {**filled, "Order": "stop-first"}
    live["TaskTemplate"]["RestartPolicy"] = {"Condition": "any", "Delay": 5_000_000_000, "MaxAttempts": 0}
    live["TaskTemplate"]["ContainerSpec"]["StopGracePeriod"] = 10_000_000_000
    assert service_changes(sent, live) == []
    hand = {
        ("UpdateConfig", "FailureAction"): ("rollback", "update config", False),
        ("RollbackConfig", "Parallelism"): (2, "rollback config", False),
        ("TaskTemplate", "RestartPolicy", "Delay"): (7_000_000_000, "restart policy", True),
        ("TaskTemplate", "ContainerSpec", "StopGracePeriod"): (3_000_000_000, "stop grace period", True),
        ("TaskTemplate", "ContainerSpec", "User"): ("nobody", "user", True),
    }
    import copy

    for path, (value, words, restarts) in hand.items():
        changed = copy.deepcopy(live)
        where = changed
        for key in path[:-1]:
            where = where[key]
        where[path[-1]] = value
        [c] = service_changes(sent, changed)
        assert (c.what, c.after) == ("other settings", words), path
        assert restarts_tasks(sent, changed) is restarts, path


def test_the_empty_objects_docker_always_sends_do_not_enter_the_spec_hash():
    from coopcloud.ops.deploy.plan import spec_hash

    docker_shaped = spec(EndpointSpec={})
    tt = docker_shaped["TaskTemplate"]
    tt["ContainerSpec"]["Privileges"], tt["Resources"], tt["Placement"] = {}, {}, {}
    assert spec_hash(docker_shaped) == spec_hash(spec())
    tt["ContainerSpec"]["Privileges"] = {"CredentialSpec": {"File": "x.json"}}
    assert spec_hash(docker_shaped) != spec_hash(spec())


def test_other_settings_read_in_words():
    from coopcloud.ops.deploy.plan import setting_words

    assert setting_words(["TaskTemplate.ContainerSpec.Healthcheck.Test", "TaskTemplate.ContainerSpec.User"]) == (
        "healthcheck command, user"
    )
    assert setting_words(["TaskTemplate.ContainerSpec.CapabilityAdd", "TaskTemplate.ContainerSpec.CapabilityDrop"]) == (
        "capabilities"
    )
    assert setting_words(["TaskTemplate.ContainerSpec.StopGracePeriod", "UpdateConfig.Parallelism"]) == (
        "stop grace period, update config"
    )
