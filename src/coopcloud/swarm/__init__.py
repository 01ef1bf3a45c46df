"""Pure converter: compose model -> the Engine API bodies `docker stack deploy` sends."""
