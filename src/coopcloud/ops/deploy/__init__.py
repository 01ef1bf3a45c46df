"""Deploy an app: resolve, render, preflight (read-only), plan, apply, converge, record.

Everything that can be checked is checked before the first change on the
server, so a refused deploy leaves the server exactly as it was. See
DESIGN.md §6 for the pipeline; the modules carry its step numbers.

Topic modules, one a stage: `target` (1 resolve, 2 labels), `checks` (3 preflight),
`planning` (4 plan, and `prepare`: 1–4 as a value), `pipeline` (5–9 whole: the one change
pipeline every command calls), `rollout` (6 apply, 7 converge, 8 roll back), `state` (9 record).
This package re-exports what the CLI and the other ops call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .checks import Preflight, preflight
from .pipeline import DeployOptions, execute
from .planning import DeployResult, Prepared, check_state_writable, desired_specs, make_plan, prepare, unconverged
from .rollout import Applied, apply, undo
from .state import pin_version, record, write_lockfile
from .target import Target, add_coop_labels, chaos_target, deploy_env, releases, resolve_target

if TYPE_CHECKING:
    from coopcloud.ops.app.context import AppContext

__all__ = [
    "Applied",
    "DeployOptions",
    "DeployResult",
    "Preflight",
    "Prepared",
    "Target",
    "add_coop_labels",
    "apply",
    "chaos_target",
    "check_state_writable",
    "deploy_env",
    "desired_specs",
    "execute",
    "make_plan",
    "pin_version",
    "preflight",
    "prepare",
    "record",
    "redeploy",
    "releases",
    "resolve_target",
    "unconverged",
    "undo",
    "write_lockfile",
]


def redeploy(app: AppContext, options: DeployOptions | None = None) -> DeployResult:
    """prepare() the pinned version (forced) then execute(), for a caller that shows no plan (a secret
    rotation's redeploy). Inside `app.mutating(...)`."""
    return execute(prepare(app.settings, app.pool, app.name, force=True), app, options or DeployOptions())
