"""Every corpus recipe, with each overlay alone and all together: coop == docker stack config."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from test_compose_oracle import DOCKER

from coopcloud.compose import ComposeFile, load
from shared_data import CORPUS, PLACEHOLDER

pytestmark = pytest.mark.corpus  # the whole module reads ../shared


def _env_sample(recipe: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for cand in (recipe / ".env.sample", recipe / "deploy" / ".env.sample"):
        if cand.exists():
            for line in cand.read_text().splitlines():
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                line = line.removeprefix("export ")
                k, sep, v = line.partition("=")
                if not sep:
                    continue
                v = re.sub(r"\s+#.*$", "", v).strip()
                if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
                    v = v[1:-1]
                env[k.strip()] = v
            break
    env.update(DOMAIN="example.org", STACK_NAME="example_org")
    return env


def _cases():
    if not CORPUS.exists():
        return [pytest.param(PLACEHOLDER, ["compose.yml"], id=PLACEHOLDER)]
    out = []
    for recipe in sorted(CORPUS.iterdir()):
        base = recipe / "compose.yml"
        if not base.exists():
            continue
        overlays = sorted(p.name for p in recipe.glob("compose.*.yml"))
        out.append(pytest.param(recipe.name, ["compose.yml"], id=f"{recipe.name}-base"))
        for o in overlays:
            out.append(pytest.param(recipe.name, ["compose.yml", o], id=f"{recipe.name}-{o}"))
        if overlays:
            out.append(pytest.param(recipe.name, ["compose.yml", *overlays], id=f"{recipe.name}-all"))
    return out


def _docker(recipe: Path, names: list[str], env: dict[str, str]):
    import subprocess

    if DOCKER is None:
        pytest.skip("docker CLI not installed: no oracle")
    args = []
    for n in names:
        args += ["-c", str(recipe / n)]
    r = subprocess.run(
        [DOCKER, "stack", "config", *args],
        capture_output=True,
        text=True,
        env={"DOCKER_CONFIG": "/nonexistent-coop", **env},
        cwd=recipe,
    )
    return (r.returncode == 0), (yaml.safe_load(r.stdout) if r.returncode == 0 else r.stderr)


@pytest.mark.parametrize(("recipe", "names"), _cases())
def test_corpus_matches_docker(recipe, names):
    rdir = CORPUS / recipe
    env = _env_sample(rdir)
    files = [ComposeFile(n, (rdir / n).read_text()) for n in names]
    ok, want = _docker(rdir, names, env)
    if not ok:
        with pytest.raises(Exception) as exc:
            load(files, env, working_dir=str(rdir))
        assert type(exc.value).__name__ == "ComposeError", (want, exc.value)
        return
    got = load(files, env, working_dir=str(rdir))
    assert got == want
