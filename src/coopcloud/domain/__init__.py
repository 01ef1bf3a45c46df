"""Pure models of Co-op Cloud's vocabulary: recipe, version, app, server, catalogue, env files."""
