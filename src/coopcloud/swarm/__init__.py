"""Pure converter: compose model -> the Engine API bodies `docker stack deploy` sends.

    spec = convert(model, "cloud_example_org", read_file=read_bytes)
    spec.services["cloud_example_org_app"]   # body for POST /services/create

Nothing here talks to Docker; `engine/` sends these bodies. See `convert.py`.
"""

from coopcloud.swarm.convert import convert
from coopcloud.swarm.spec import StackSpec, with_ids

__all__ = ["StackSpec", "convert", "with_ids"]
