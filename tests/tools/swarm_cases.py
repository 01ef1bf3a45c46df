"""The converter's test cases: compose files under tests/data/swarm/cases/<case>/.

Each case is `compose.yml` (plus `compose.override.yml` when present, merged as
a second `-c`) and the files its configs/secrets read. Golden files live in
tests/data/swarm/golden/: `<case>.model.yml` (what `docker stack config`
printed, the case directory written as ``@CASE@``) and `<case>.json` (the
converter's output for stack ``demo``). Regenerate both with
``python tests/tools/swarm_cases.py`` after a deliberate change, and review
the diff: the differential test is what proves them right.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data" / "swarm"
CASES = DATA / "cases"
GOLDEN = DATA / "golden"
GOLDEN_STACK = "demo"
CASE_DIR_TOKEN = "@CASE@"


def case_names() -> list[str]:
    return sorted(p.name for p in CASES.iterdir() if (p / "compose.yml").is_file())


def case_files(case: str) -> list[Path]:
    d = CASES / case
    return [f for f in (d / "compose.yml", d / "compose.override.yml") if f.is_file()]


def case_env(stack: str, *, ext_secret: str, ext_config: str) -> dict[str, str]:
    """Variables the cases interpolate (and `COOP_RESOLVED` for a bare env name)."""
    return {
        "STACK_NAME": stack,
        "DOMAIN": "cloud.example.org",
        "COOP_TEST_NET": f"{stack}_named",
        "COOP_EXT_SECRET": ext_secret,
        "COOP_EXT_CONFIG": ext_config,
        "COOP_RESOLVED": "from-the-environment",
    }


def read_bytes(path: str) -> bytes:
    return Path(path).read_bytes()


def regenerate() -> None:  # pragma: no cover - a maintainer's tool
    import yaml

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from coopcloud.swarm import convert
    from tools.stack_config import docker_stack_config

    GOLDEN.mkdir(parents=True, exist_ok=True)
    env = case_env(GOLDEN_STACK, ext_secret="ext_secret", ext_config="ext_config")
    for case in case_names():
        model = docker_stack_config(case_files(case), env=env)
        spec = convert(model, GOLDEN_STACK, read_file=read_bytes)
        text = yaml.safe_dump(model, sort_keys=True).replace(str(CASES / case), CASE_DIR_TOKEN)
        (GOLDEN / f"{case}.model.yml").write_text(text)
        (GOLDEN / f"{case}.json").write_text(json.dumps(spec.to_json(), indent=2, sort_keys=True) + "\n")
        print("wrote", case)


if __name__ == "__main__":  # pragma: no cover
    regenerate()
