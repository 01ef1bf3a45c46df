"""Git access for recipe repositories: read files at a tag straight from git objects."""

from coopcloud.gitops.repo import GitRepo, Tag, config_value, find_git, run_git

__all__ = ["GitRepo", "Tag", "config_value", "find_git", "run_git"]
