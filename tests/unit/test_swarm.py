"""The swarm converter, offline: golden files, names, units, refusals.

The golden files are proven against the real `docker stack deploy` by
tests/integration/test_swarm_differential.py; here they only guard against
regressions (regenerate with ``python tests/tools/swarm_cases.py``).
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import pytest
import yaml

from coopcloud.errors import ConvertError, ExitStatus
from coopcloud.swarm import StackSpec, convert, with_ids
from coopcloud.swarm.units import duration_ns, nano_cpus, size_bytes, tagged_image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tools.swarm_cases import CASE_DIR_TOKEN, CASES, GOLDEN, GOLDEN_STACK, case_names, read_bytes


def _no_files(path: str) -> bytes:
    raise AssertionError(f"unexpected read of {path}")


def _svc(spec: StackSpec, name: str = "demo_app") -> dict:
    return spec.services[name]


def _cs(spec: StackSpec, name: str = "demo_app") -> dict:
    return spec.services[name]["TaskTemplate"]["ContainerSpec"]


# -- golden files ---------------------------------------------------------


@pytest.mark.parametrize("case", case_names())
def test_golden(case: str) -> None:
    text = (GOLDEN / f"{case}.model.yml").read_text().replace(CASE_DIR_TOKEN, str(CASES / case))
    model = yaml.safe_load(text)
    want = json.loads((GOLDEN / f"{case}.json").read_text())
    assert convert(model, GOLDEN_STACK, read_file=read_bytes).to_json() == want


def test_every_case_has_golden_files() -> None:
    for case in case_names():
        assert (GOLDEN / f"{case}.json").is_file(), case
        assert (GOLDEN / f"{case}.model.yml").is_file(), case


def test_conversion_is_deterministic_whatever_the_input_order() -> None:
    env = {"Z": "1", "A": "2", "M": None}
    model = {
        "services": {
            "app": {
                "image": "x:1",
                "environment": env,
                "networks": {"b": None, "a": None},
                "ports": [{"target": 2, "published": 9002}, {"target": 1, "published": 9001}],
                "ulimits": {"nproc": 1, "core": 0},
                "secrets": [{"source": "s2"}, {"source": "s1"}],
            }
        },
        "networks": {"a": {}, "b": {}},
        "secrets": {"s1": {"external": True, "name": "s1"}, "s2": {"external": True, "name": "s2"}},
    }
    reordered = json.loads(json.dumps(model))
    svc = reordered["services"]["app"]
    svc["environment"] = dict(reversed(list(env.items())))
    svc["networks"] = {"a": None, "b": None}
    svc["ports"].reverse()
    svc["secrets"].reverse()
    svc["ulimits"] = {"core": 0, "nproc": 1}
    one = convert(model, "demo", read_file=_no_files).to_json()
    two = convert(reordered, "demo", read_file=_no_files).to_json()
    assert one == two
    cs = one["services"]["demo_app"]["TaskTemplate"]["ContainerSpec"]
    assert cs["Env"] == ["A=2", "M", "Z=1"]
    assert [s["SecretName"] for s in cs["Secrets"]] == ["s1", "s2"]


# -- names and the length refusal ----------------------------------------


def test_long_service_name_is_refused_with_the_fix() -> None:
    stack = "a_very_long_domain_name_for_a_cooperative_example_org"  # 53 characters
    model = {"services": {"app": {"image": "x:1"}, "worker_of_doom": {"image": "x:1"}}}
    with pytest.raises(ConvertError) as exc:
        convert(model, stack, read_file=_no_files)
    message = str(exc.value)
    assert f"{stack}_worker_of_doom" in message
    assert "63" in message
    assert "shorten the app name/domain" in message
    assert exc.value.exit_status == ExitStatus.INVALID


def test_service_name_of_63_characters_is_accepted_and_64_refused() -> None:
    model = {"services": {"app": {"image": "x", "networks": ["proxy"]}}, "networks": {"proxy": {"external": True}}}
    stack = "s" * 59
    assert "s" * 59 + "_app" in convert(model, stack, read_file=_no_files).services
    with pytest.raises(ConvertError, match="64 characters"):
        convert(model, stack + "s", read_file=_no_files)


def test_the_default_network_counts_too() -> None:
    # <stack>_default is longer than <stack>_app: docker would fail creating it, first
    with pytest.raises(ConvertError, match=r"network name '\w+_default' is 64 characters"):
        convert({"services": {"app": {"image": "x"}}}, "s" * 56, read_file=_no_files)


def test_long_secret_name_is_refused_before_reading_anything() -> None:
    model = {
        "services": {"app": {"image": "x", "secrets": ["db_password"]}},
        "secrets": {"db_password": {"file": "/nope", "name": "demo_" + "x" * 60 + "_v1"}},
    }
    with pytest.raises(ConvertError, match=r"secret name .* is 68 characters; Docker allows at most 64"):
        convert(model, "demo", read_file=_no_files)


def test_external_secret_names_are_not_checked_or_created() -> None:
    model = {
        "services": {"app": {"image": "x", "secrets": [{"source": "s", "target": "t"}]}},
        "secrets": {"s": {"external": True, "name": "x" * 80}},
    }
    spec = convert(model, "demo", read_file=_no_files)
    assert spec.secrets == {}
    assert _cs(spec)["Secrets"] == [
        {"File": {"GID": "0", "Mode": 292, "Name": "t", "UID": "0"}, "SecretName": "x" * 80}
    ]


def test_long_network_name_is_refused() -> None:
    model = {"services": {"a": {"image": "x", "networks": ["n" * 60]}}, "networks": {"n" * 60: {}}}
    with pytest.raises(ConvertError, match="network name"):
        convert(model, "demo", read_file=_no_files)


def test_dotted_stack_names_are_refused() -> None:
    with pytest.raises(ConvertError, match="not valid"):
        convert({"services": {"app": {"image": "x"}}}, "cloud.example.org", read_file=_no_files)


# -- what docker refuses, refused before anything -----------------------


@pytest.mark.parametrize(
    ("service", "extra", "match"),
    [
        ({"networks": ["missing"]}, {}, "undefined network 'missing'"),
        ({"volumes": [{"type": "volume", "source": "v", "target": "/v"}]}, {}, "undefined volume 'v'"),
        ({"secrets": ["s"]}, {}, "undefined secret 's'"),
        ({"configs": ["c"]}, {}, "undefined config 'c'"),
        ({"deploy": {"mode": "global", "replicas": 2}}, {}, "replicas can only be used"),
        ({"deploy": {"mode": "sometimes"}}, {}, "unknown deploy mode"),
        ({"restart": "maybe"}, {}, "unknown restart policy"),
        ({"healthcheck": {"disable": True, "test": ["CMD", "x"]}}, {}, "test and disable"),
        ({"stop_grace_period": "10 seconds"}, {}, "invalid duration"),
        ({"deploy": {"resources": {"limits": {"cpus": "0.0000000001"}}}}, {}, "too precise"),
        (
            {"secrets": [{"source": "s", "target": "t"}, {"source": "s", "target": "t"}]},
            {"secrets": {"s": {"external": True, "name": "s"}}},
            "duplicate secret target",
        ),
        (
            {"volumes": [{"type": "tmpfs", "target": "/t", "bind": {"propagation": "rshared"}}]},
            {},
            "bind options are incompatible with type tmpfs",
        ),
        ({"credential_spec": {"file": "a", "registry": "b"}}, {}, "cannot specify both"),
    ],
)
def test_refusals(service: dict, extra: dict, match: str) -> None:
    model = {"services": {"app": {"image": "x:1", **service}}, **extra}
    with pytest.raises(ConvertError, match=match) as exc:
        convert(model, "demo", read_file=_no_files)
    assert str(exc.value).startswith("service app: ")


def test_unreadable_secret_file_is_a_convert_error(tmp_path: Path) -> None:
    model = {"services": {}, "secrets": {"s": {"file": str(tmp_path / "missing")}}}
    with pytest.raises(ConvertError, match="secret s: cannot read"):
        convert(model, "demo", read_file=read_bytes)


# -- pieces docker handles specially ---------------------------------------


def test_secret_and_config_objects() -> None:
    files = {"/s": b"pw\n", "/c": b"conf"}
    model = {
        "services": {},
        "secrets": {
            "s": {"file": "/s", "labels": {"v": "1"}},
            "d": {"driver": "vault", "driver_opts": {"path": "x"}, "template_driver": "golang"},
        },
        "configs": {"c": {"file": "/c", "name": "fixed_name", "template_driver": "golang"}},
    }
    spec = convert(model, "demo", read_file=files.__getitem__)
    assert spec.secrets == {
        "demo_s": {
            "Name": "demo_s",
            "Labels": {"v": "1", "com.docker.stack.namespace": "demo"},
            "Data": base64.b64encode(b"pw\n").decode(),
        },
        "demo_d": {
            "Name": "demo_d",
            "Labels": {"com.docker.stack.namespace": "demo"},
            "Driver": {"Name": "vault", "Options": {"path": "x"}},
            "Templating": {"Name": "golang"},
        },
    }
    assert spec.configs == {
        "fixed_name": {
            "Name": "fixed_name",
            "Labels": {"com.docker.stack.namespace": "demo"},
            "Data": base64.b64encode(b"conf").decode(),
            "Templating": {"Name": "golang"},
        }
    }


def test_credential_spec_config_is_a_runtime_reference_filled_by_with_ids() -> None:
    model = {
        "services": {"app": {"image": "x", "credential_spec": {"config": "cs"}, "configs": ["cs"]}},
        "configs": {"cs": {"file": "/cs"}},
    }
    spec = convert(model, "demo", read_file=lambda p: b"{}")
    refs = _cs(spec)["Configs"]
    assert refs == [
        {"ConfigName": "demo_cs", "File": {"GID": "0", "Mode": 292, "Name": "cs", "UID": "0"}},
        {"ConfigName": "demo_cs", "Runtime": {}},
    ]
    body = with_ids(_svc(spec), secret_ids={}, config_ids={"demo_cs": "cid1"})
    cs = body["TaskTemplate"]["ContainerSpec"]
    assert [r["ConfigID"] for r in cs["Configs"]] == ["cid1", "cid1"]
    assert cs["Privileges"] == {"CredentialSpec": {"Config": "cid1"}}
    assert "ConfigID" not in _cs(spec)["Configs"][0]  # the spec itself is untouched


def test_with_ids_names_a_missing_secret() -> None:
    model = {
        "services": {"app": {"image": "x", "secrets": ["s"]}},
        "secrets": {"s": {"external": True, "name": "s_v1"}},
    }
    spec = convert(model, "demo", read_file=_no_files)
    assert (
        with_ids(_svc(spec), secret_ids={"s_v1": "id"}, config_ids={})["TaskTemplate"]["ContainerSpec"]["Secrets"][0][
            "SecretID"
        ]
        == "id"
    )
    with pytest.raises(ConvertError, match="secret not found: s_v1"):
        with_ids(_svc(spec), secret_ids={}, config_ids={})


def test_cluster_and_image_mounts() -> None:
    model = {
        "services": {
            "app": {
                "image": "x",
                "volumes": [
                    {"type": "cluster", "source": "cv", "target": "/c"},
                    {"type": "cluster", "source": "group:g", "target": "/g"},
                    {"type": "image", "source": "img:1", "target": "/i", "image": {"subpath": "sub"}},
                ],
            }
        },
        "volumes": {"cv": {}},
    }
    mounts = _cs(convert(model, "demo", read_file=_no_files))["Mounts"]
    assert mounts == [
        {"Type": "cluster", "Source": "demo_cv", "Target": "/c", "ClusterOptions": {}},
        {"Type": "cluster", "Source": "group:g", "Target": "/g", "ClusterOptions": {}},
        {"Type": "image", "Source": "img:1", "Target": "/i", "ImageOptions": {"Subpath": "sub"}},
    ]


def test_host_and_bridge_networks_get_no_alias() -> None:
    model = {
        "services": {"app": {"image": "x", "networks": {"h": None}}},
        "networks": {"h": {"external": True, "name": "host"}},
    }
    spec = convert(model, "demo", read_file=_no_files)
    assert spec.networks == {}
    assert _svc(spec)["TaskTemplate"]["Networks"] == [{"Target": "host"}]


def test_short_forms_are_tolerated() -> None:
    model = {
        "services": {
            "app": {
                "image": "x",
                "environment": ["A=1", "B"],
                "command": "run",
                "dns": "1.1.1.1",
                "extra_hosts": {"h": "10.0.0.1"},
                "labels": ["a=b"],
                "networks": ["n"],
                "secrets": ["s"],
            }
        },
        "networks": {"n": None},
        "secrets": {"s": {"external": True}},
    }
    cs = _cs(convert(model, "demo", read_file=_no_files))
    assert cs["Env"] == ["A=1", "B"]
    assert cs["Args"] == ["run"]
    assert cs["DNSConfig"] == {"Nameservers": ["1.1.1.1"]}
    assert cs["Hosts"] == ["10.0.0.1 h"]
    assert cs["Labels"] == {"a": "b", "com.docker.stack.namespace": "demo"}
    assert cs["Secrets"][0]["SecretName"] == "s"


def test_to_json_is_a_copy() -> None:
    spec = convert({"services": {"app": {"image": "x"}}}, "demo", read_file=_no_files)
    out = spec.to_json()
    out["services"]["demo_app"]["Name"] = "changed"
    assert spec.services["demo_app"]["Name"] == "demo_app"


# -- units ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("0s", 0),
        ("0", 0),
        ("30s", 30_000_000_000),
        ("1m30s", 90_000_000_000),
        ("2m0s", 120_000_000_000),
        ("1h2m3s", 3_723_000_000_000),
        ("500ms", 500_000_000),
        ("1.5s", 1_500_000_000),
        ("1µs", 1_000),
        ("1us", 1_000),
        ("100ns", 100),
        ("-1s", -1_000_000_000),
    ],
)
def test_duration_ns(text: str, ns: int) -> None:
    assert duration_ns(text, "x") == ns


@pytest.mark.parametrize("bad", ["", "1", "s", "1x", "1s2", 30, None])
def test_duration_ns_refuses(bad: object) -> None:
    with pytest.raises(ConvertError):
        duration_ns(bad, "x")


@pytest.mark.parametrize(
    ("value", "n"),
    [("52428800", 52428800), (1024, 1024), ("512M", 512 << 20), ("1g", 1 << 30), ("1.5k", 1536), ("10mb", 10 << 20)],
)
def test_size_bytes(value: object, n: int) -> None:
    assert size_bytes(value, "x") == n


@pytest.mark.parametrize(("value", "n"), [("0.5", 500_000_000), ("2", 2_000_000_000), ("0.001", 1_000_000), (1, 10**9)])
def test_nano_cpus(value: object, n: int) -> None:
    assert nano_cpus(value, "x") == n


@pytest.mark.parametrize(
    ("image", "sent"),
    [
        ("busybox", "busybox:latest"),
        ("busybox:1", "busybox:1"),
        ("docker.io/library/busybox:1", "busybox:1"),
        ("index.docker.io/foo/bar", "foo/bar:latest"),
        ("localhost:5000/a/b", "localhost:5000/a/b:latest"),
        ("localhost/a", "localhost/a:latest"),
        ("git.coopcloud.tech/coop-cloud/abra:1", "git.coopcloud.tech/coop-cloud/abra:1"),
        ("a@sha256:" + "0" * 64, "a@sha256:" + "0" * 64),
        ("a:1@sha256:" + "0" * 64, "a:1@sha256:" + "0" * 64),
        ("Registry/case", "Registry/case:latest"),  # a capital in the first part makes it a domain
        ("upper/Case", "upper/Case"),  # not a valid reference: sent unchanged
        ("a" * 64, "a" * 64),  # an image ID
    ],
)
def test_tagged_image(image: str, sent: str) -> None:
    assert tagged_image(image) == sent


def test_keys_docker_stack_deploy_ignores_are_ignored() -> None:
    # oom_score_adj: docker 28's loader never maps it; the rest are unsupported in swarm mode
    svc = {"image": "x", "oom_score_adj": 100, "privileged": True, "tmpfs": ["/t"], "container_name": "c", "build": "."}
    cs = _cs(convert({"services": {"app": svc}}, "demo", read_file=_no_files))
    assert set(cs) == {"Image", "Labels", "Privileges"}
