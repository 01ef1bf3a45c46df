"""coop's compose loader against `docker stack config` on many small documents, plus properties."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_compose_oracle import both

from coopcloud.compose import ComposeFile, load
from coopcloud.errors import ComposeError
from shared_data import ORACLES

H = 'version: "3.8"\nservices:\n  app:\n    image: nginx\n'

DOCS = {
    "ports": H
    + "    ports: ['80:80', '8000-8001:9000-9001/udp', 443, '127.0.0.1:53:53/udp', {target: 1, published: 2}]\n",
    "volumes": H + "    volumes: ['./d:/d:ro', 'v:/v:nocopy', '/abs:/a:rshared', '/anon', '~/x:/x']\nvolumes: {v: }\n",
    "env_list": H + "    environment: [A, B=1, C=, 'D=x=y']\n",
    "env_map": H + "    environment: {A: , B: 1, C: 1.5, D: 'yes', E: true_}\n",
    "command": H + "    command: echo \"a b\" 'c' $$HOME\n    entrypoint: [sh, -c]\n",
    "healthcheck": H
    + "    healthcheck: {test: curl -f x, interval: 90s, timeout: 1m30s, retries: 3, start_period: 0s}\n",
    "labels": H + "    labels: [a=b, c]\n    deploy: {labels: {x: 1, y: 'no'}, replicas: '${R:-0}'}\n",
    "secrets": H
    + "    secrets: [s, {source: t, target: /t, mode: 0440}]\nsecrets: {s: {external: true}, t: {file: ./t}}\n",
    "configs": H
    + "    configs: [{source: c, target: /c, mode: 0o555}]\nconfigs: {c: {file: c.tmpl, template_driver: golang, name: 'c_${V:-v1}'}}\n",
    "networks": H
    + "    networks: {proxy: , internal: {aliases: [a]}}\nnetworks: {proxy: {external: true}, internal: }\n",
    "deploy": H
    + "    deploy:\n      mode: replicated\n      update_config: {parallelism: 1, delay: 10s, order: start-first, failure_action: rollback}\n"
    "      restart_policy: {condition: on-failure, delay: 5s, max_attempts: 3, window: 2m}\n"
    "      resources: {limits: {cpus: '0.5', memory: 512M}, reservations: {memory: 1g}}\n"
    "      placement: {constraints: [node.role == manager], preferences: [{spread: node.id}]}\n",
    "yaml_scalars": H + "x-a: {a: yes, b: on, c: 0440, d: 0o17, e: 1e3, f: ~, g: True, h: 1_000, i: 0x1F}\n",
    "anchors": 'version: "3.8"\nx-env: &env\n  A: 1\nservices:\n  app:\n    image: x\n    environment:\n      <<: *env\n      B: 2\n',
    "casts": H + "    read_only: '${RO:-yes}'\n    tty: '${T:-off}'\n    ulimits: {nofile: '${N:-5}'}\n",
    "no_version": "services:\n  app:\n    image: x\n",
    "version_3": 'version: "3"\nservices:\n  app:\n    image: x\n',
    "extras": H + "    x-foo: {a: 1}\nx-top: [1, 2]\nnetworks: {n: {x-a: 1}, e: {external: true, x-b: 2}}\n",
    "grace": H + "    stop_grace_period: 1m30s\n    init: true\n    extra_hosts: {h: 1.2.3.4}\n    dns: 1.1.1.1\n",
    "unbraced_modifier": H + "    hostname: $A-b\n    user: ${B-u}:${C:-g}\n",
    "logging": H + "    logging: {driver: json-file, options: {max-size: 10m, max-file: 3}}\n",
    # documents docker rejects
    "bad_port": H + "    ports: ['80:80:80:80']\n",
    "bad_key": H + "    imagee: x\n",
    "bad_type": H + "    read_only: 'yes'\n",
    "forbidden": H + "    mem_limit: 1g\n",
    "too_new": H + "    oom_score_adj: 5\n",
    "bad_version": 'version: "3.99"\nservices: {app: {image: x}}\n',
    "float_version": "version: 3.8\nservices: {app: {image: x}}\n",
    "required": H + "    hostname: ${NOPE:?set NOPE}\n",
    "bad_cast": H + "    deploy: {replicas: '${R:-many}'}\n",
    "dup_key": H + "    image: y\n",
    "bad_duration": H + "    stop_grace_period: 10\n",
    "list_not_unique": H + "    dns: [a, a]\n",
    "top_list": "- a\n",
}


@pytest.mark.parametrize("name", sorted(DOCS))
def test_document_matches_docker(name):
    got, ok, want = both([("compose.yml", DOCS[name])], {"HOME": "/home/u", "V": "v2"})
    if not ok:
        assert isinstance(got, ComposeError), f"docker rejects {name}: {want}"
        return
    assert not isinstance(got, Exception), got
    assert got == want


MERGES = {
    "ports_volumes": (
        H + "    ports: ['80:80', '443:443']\n    volumes: ['a:/a', 'b:/b']\nvolumes: {a: , b: }\n",
        "version: \"3.8\"\nservices:\n  app:\n    ports: [{target: 81, published: 80}]\n    volumes: ['c:/a']\nvolumes: {c: }\n",
    ),
    "env_labels": (
        H + "    environment: {A: 1, B: , C: 3}\n    labels: {a: 1}\n",
        'version: "3.8"\nservices:\n  app:\n    environment: {A: 2, B: 5, C: ""}\n    labels: [b=2]\n',
    ),
    "command_lists": (
        H + "    command: a b\n    depends_on: [x]\n    dns: [1.1.1.1]\n",
        'version: "3.8"\nservices:\n  app:\n    command: [c]\n    depends_on: [y]\n    dns: 8.8.8.8\n',
    ),
    "deploy": (
        H
        + "    deploy: {replicas: 2, labels: {a: 1}, resources: {limits: {memory: 1g}}, placement: {constraints: [a==b]}}\n",
        'version: "3.8"\nservices:\n  app:\n    deploy: {replicas: 0, labels: {b: 2}, placement: {constraints: [c==d]}}\n',
    ),
    "new_service_and_top": (
        H + "secrets: {s: {file: ./a}}\n",
        'version: "3.8"\nservices:\n  db:\n    image: pg\nsecrets: {s: {external: true}}\nx-new: 1\n',
    ),
    "secrets_sorted": (
        H + "    secrets: [b, a]\nsecrets: {a: {external: true}, b: {external: true}}\n",
        'version: "3.8"\nservices:\n  app:\n    image: y\n',
    ),
    "networks": (
        H + "    networks: {n: {aliases: [a], ipv4_address: 1.2.3.4}}\nnetworks: {n: }\n",
        'version: "3.8"\nservices:\n  app:\n    networks: {n: {aliases: [b]}, m: }\nnetworks: {m: }\n',
    ),
    "version_mismatch": (H, "services:\n  app:\n    image: y\n"),
}


@pytest.mark.parametrize("name", sorted(MERGES))
def test_merge_matches_docker(name):
    a, b = MERGES[name]
    got, ok, want = both([("compose.yml", a), ("compose.o.yml", b)])
    if not ok:
        assert isinstance(got, ComposeError), want
        return
    assert got == want


def test_error_names_file_line_path_and_service():
    doc = H + "    ports:\n      - '80:80'\n      - '80:80:80:80'\n"
    with pytest.raises(ComposeError) as e:
        load([ComposeFile("compose.smtp.yml", doc)], {}, working_dir="/srv")
    assert str(e.value).startswith("compose.smtp.yml:7 services.app.ports[1]: invalid port")
    assert "service app" in str(e.value)


def test_required_variable_error():
    doc = H.replace("image: nginx", "image: ${SMTP_HOST:?set it in the app .env}")
    with pytest.raises(ComposeError) as e:
        load([ComposeFile("compose.smtp.yml", doc)], {}, working_dir="/srv")
    assert str(e.value) == (
        "compose.smtp.yml:4 services.app.image: required variable SMTP_HOST is missing a value: set it in the app .env"
    )


def test_unset_variable_warns():
    warnings: list[str] = []
    load([ComposeFile("c.yml", H.replace("nginx", "nginx:$TAG"))], {}, working_dir="/", warn=warnings.append)
    assert any("TAG" in w for w in warnings)


def test_import_does_not_import_yaml():
    code = "import sys, coopcloud.compose; assert 'yaml' not in sys.modules, 'yaml imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- properties ---------------------------------------------------------------------------------

_scalar = st.one_of(
    st.text(st.sampled_from("ab1:/-=. $"), max_size=6), st.integers(-3, 70000), st.booleans(), st.none()
)
_service = st.fixed_dictionaries(
    {"image": st.one_of(st.just("nginx"), _scalar)},
    optional={
        "ports": st.lists(
            st.one_of(st.sampled_from(["80", "80:80", "1-2:3-4", "x", "80/udp"]), st.integers(0, 70000)), max_size=3
        ),
        "environment": st.one_of(
            st.lists(st.sampled_from(["A", "B=1", "C="]), max_size=3),
            st.dictionaries(st.sampled_from("ABC"), _scalar, max_size=3),
        ),
        "read_only": _scalar,
        "deploy": st.fixed_dictionaries(
            {},
            optional={
                "replicas": _scalar,
                "mode": _scalar,
                "labels": st.lists(st.sampled_from(["a=1", "b"]), max_size=2),
            },
        ),
        "stop_grace_period": _scalar,
        "command": st.one_of(
            st.text(st.sampled_from("ab '\""), max_size=5), st.lists(st.text("ab", max_size=2), max_size=2)
        ),
        "bogus": _scalar,
        "x-ext": _scalar,
        "dns": st.one_of(_scalar, st.lists(st.sampled_from(["a", "b"]), max_size=3)),
        "healthcheck": st.fixed_dictionaries(
            {},
            optional={
                "test": st.one_of(_scalar, st.lists(st.just("CMD"), max_size=2)),
                "retries": _scalar,
                "interval": _scalar,
            },
        ),
    },
)
_doc = st.fixed_dictionaries(
    {
        "version": st.sampled_from(["3.8", "3.13", "3.0"]),
        "services": st.dictionaries(st.sampled_from(["app", "db", "a b"]), _service, min_size=1, max_size=2),
    },
    optional={
        "volumes": st.dictionaries(
            st.sampled_from(["v", "w"]),
            st.one_of(st.none(), st.fixed_dictionaries({}, optional={"external": _scalar, "driver": _scalar})),
        ),
        "x-top": _scalar,
    },
)

_SCHEMAS: dict = {}


def _schema_validator(version: str):
    import jsonschema

    if version not in _SCHEMAS:
        path = ORACLES / "config_schema_v3.13.json"
        _SCHEMAS[version] = jsonschema.Draft4Validator(json.loads(path.read_text()))
    return _SCHEMAS[version]


@pytest.mark.corpus  # docker's schema is an oracle in ../shared
@given(_doc)
def test_validator_agrees_with_docker_schema(doc):
    """coop's validator accepts exactly what docker's v3.13 schema accepts (for 3.13 documents)."""
    from coopcloud.compose import validate as v
    from coopcloud.compose.gotypes import parse_duration, parse_port_spec

    doc = dict(doc, version="3.13")
    validator = _schema_validator("3.13")
    schema_ok = True
    for _err in validator.iter_errors(doc):
        schema_ok = False
        break
    if schema_ok:  # the schema's formats (ports, duration) are docker's own checkers
        for svc in doc["services"].values():
            for p in svc.get("ports", []):
                try:
                    parse_port_spec(str(p))
                except ValueError:
                    schema_ok = False
            d = svc.get("stop_grace_period")
            for dur in [d, *(svc.get("healthcheck", {}).get("interval"),)]:
                if isinstance(dur, str):
                    try:
                        parse_duration(dur)
                    except ValueError:
                        schema_ok = False
    try:
        v.validate(doc, "3.13")
        ours = True
    except v.Invalid:
        ours = False
    assert ours == schema_ok


@given(_doc)
def test_merge_with_empty_override_is_identity(doc):
    import yaml

    text = yaml.safe_dump(doc)
    try:
        alone = load([ComposeFile("a.yml", text)], {}, working_dir="/w")
    except ComposeError:
        return
    empty = f'version: "{doc["version"]}"\nservices: {{}}\n'
    assert load([ComposeFile("a.yml", text), ComposeFile("b.yml", empty)], {}, working_dir="/w") == alone


@given(_doc)
def test_generated_documents_match_docker(doc):
    import yaml

    got, ok, want = both([("compose.yml", yaml.safe_dump(doc))])
    if not ok:
        assert isinstance(got, ComposeError), want
    else:
        assert got == want
