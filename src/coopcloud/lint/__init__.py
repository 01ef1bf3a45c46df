"""Recipe lint rules: a registry of small functions, each documented by its docstring."""
