"""coop: Co-op Cloud in Python.

Recipes (the packaging format), the catalogue, and the ``coop`` command line
that deploys apps as stacks to Docker Swarm servers over SSH. The library
never imports the CLI: ``coopcloud.cli`` parses, calls the library, renders.
"""

__version__ = "0.1.0"
