"""The differential tests' normaliser must hide nothing that means something."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tools.spec_normalise import normalise


def test_drops_go_zero_values_and_ids_only() -> None:
    body = {
        "Name": "s",
        "Labels": {"empty": ""},
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": "x",
                "Init": False,
                "StopGracePeriod": 0,
                "TTY": False,
                "Env": None,
                "Privileges": {"CredentialSpec": {"Config": "cfgid"}, "SELinuxContext": None},
                "Secrets": [{"SecretID": "id", "SecretName": "n", "File": {"Name": "t", "Mode": 292}}],
                "Configs": [{"ConfigID": "id", "ConfigName": "c", "Runtime": {}}],
            },
            "ForceUpdate": 0,
            "Placement": {},
            "RestartPolicy": {"Condition": "", "MaxAttempts": 0, "Delay": 0},
        },
        "Mode": {"Replicated": {"Replicas": 0}},
        "UpdateConfig": {"Parallelism": 0, "Order": ""},
    }
    assert normalise(body) == {
        "Name": "s",
        "Labels": {"empty": ""},
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": "x",
                "Init": False,
                "StopGracePeriod": 0,
                "Privileges": {},  # a set pointer, even empty: swarm tells it from none
                "Secrets": [{"SecretName": "n", "File": {"Name": "t", "Mode": 292}}],
                "Configs": [{"ConfigName": "c", "Runtime": {}}],
            },
            "Placement": {},
            "RestartPolicy": {"MaxAttempts": 0, "Delay": 0},
        },
        "Mode": {"Replicated": {"Replicas": 0}},
    }


def test_mode_without_replicas_is_kept() -> None:
    assert normalise({"Mode": {"Global": {}}}) == {"Mode": {"Global": {}}}
    assert normalise({"Mode": {"Replicated": {}}}) == {"Mode": {"Replicated": {}}}
