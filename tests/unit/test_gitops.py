import pytest

from coopcloud.errors import NotFound, RecipeError
from coopcloud.gitops import GitRepo, Tag
from recipe_factory import commit, git, make_recipe_repo, recipe_files


@pytest.fixture
def repo_path(tmp_path):
    return make_recipe_repo(
        tmp_path / "demo",
        recipe_files("demo"),
        tags=[
            ("1.0.0+1.27.1", {}),
            ("1.1.0+1.27.2", {"nginx.conf": "v2\n", "release/1.1.0+1.27.2": "Read me first.\n"}),
            ("scratch", {"abra.sh": None}, False),
        ],
        origin="https://git.example.org/coop-cloud/demo.git",
    )


def test_tags_with_type_and_commit(repo_path):
    repo = GitRepo(repo_path)
    tags = repo.tags()
    assert [(t.name, t.annotated) for t in tags] == [
        ("1.0.0+1.27.1", True),
        ("1.1.0+1.27.2", True),
        ("scratch", False),
    ]
    assert all(isinstance(t, Tag) for t in tags)
    # annotated tags are peeled to their commit
    assert tags[1].commit == git(repo_path, "rev-parse", "1.1.0+1.27.2^{commit}").strip()
    assert tags[2].commit == repo.head()


def test_resolve_and_head(repo_path):
    repo = GitRepo(repo_path)
    head = repo.head()
    assert len(head) == 40
    assert repo.resolve("scratch") == head
    assert repo.resolve(head[:10]) == head
    with pytest.raises(NotFound, match=r"no such version or commit '9\.9\.9'"):
        repo.resolve("9.9.9")
    with pytest.raises(NotFound):
        repo.resolve("--all")


def test_list_and_read_files_at_a_tag_without_touching_the_work_tree(repo_path):
    repo = GitRepo(repo_path)
    old = repo.list_files("1.0.0+1.27.1")
    assert "release/1.1.0+1.27.2" not in old and "abra.sh" in old
    assert "abra.sh" not in repo.list_files("scratch")
    assert repo.read_file("1.0.0+1.27.1", "nginx.conf") == b"server { listen 80; }\n"
    assert repo.read_file("1.1.0+1.27.2", "nginx.conf") == b"v2\n"
    got = repo.read_files("1.1.0+1.27.2", ["nginx.conf", "missing.txt", "release", "abra.sh"])
    assert got == {"nginx.conf": b"v2\n", "missing.txt": None, "release": None, "abra.sh": got["abra.sh"]}
    assert got["abra.sh"].startswith(b"export NGINX_CONF_VERSION=v1")
    with pytest.raises(NotFound, match=r"no file 'nope' at 1\.0\.0\+1\.27\.1"):
        repo.read_file("1.0.0+1.27.1", "nope")
    # the checkout did not move
    assert (repo_path / "nginx.conf").read_text() == "v2\n"
    assert not (repo_path / "abra.sh").exists()
    assert not repo.is_dirty()


def test_read_binary_and_paths_with_spaces(tmp_path):
    blob = bytes(range(256)) * 3
    path = make_recipe_repo(tmp_path / "r", {"a b/c d.bin": blob, "x": ""})
    repo = GitRepo(path)
    assert repo.read_files("HEAD", ["a b/c d.bin", "x"]) == {"a b/c d.bin": blob, "x": b""}


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path):
    path = make_recipe_repo(tmp_path / "r", {"small": "ok\n", "big": "x" * 5000})
    repo = GitRepo(path)
    assert repo.read_files("HEAD", ["small"], max_size=4096) == {"small": b"ok\n"}
    with pytest.raises(RecipeError, match=r"big is 5000 bytes, more than coop reads from a recipe"):
        repo.read_files("HEAD", ["small", "big"], max_size=4096)
    # many paths at once: the query and the answers never block each other
    many = [f"missing-{i:05d}-{'y' * 60}" for i in range(3000)]
    assert set(repo.read_files("HEAD", [*many, "small"]).values()) == {None, b"ok\n"}


def test_dirty_checks(repo_path):
    repo = GitRepo(repo_path)
    assert not repo.is_dirty()
    (repo_path / "untracked.txt").write_text("x")
    assert repo.is_dirty()
    assert not repo.is_dirty(untracked=False)
    (repo_path / "nginx.conf").write_text("changed")
    assert repo.is_dirty(untracked=False)
    commit(repo_path, {}, "everything")
    assert not repo.is_dirty()


def test_remote_url_and_branch(repo_path, tmp_path):
    repo = GitRepo(repo_path)
    assert repo.remote_url() == "https://git.example.org/coop-cloud/demo.git"
    assert repo.remote_url("upstream") is None
    assert repo.current_branch() == "main"
    git(repo_path, "checkout", "-q", "--detach", "1.0.0+1.27.1")
    assert repo.current_branch() is None


def test_not_a_repo(tmp_path):
    assert GitRepo(tmp_path).is_repo() is False
    with pytest.raises(RecipeError, match=str(tmp_path)):
        GitRepo(tmp_path).tags()
    with pytest.raises(NotFound, match="no such directory"):
        GitRepo(tmp_path / "missing").head()


def test_git_missing_from_path(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(RecipeError, match="git is not installed"):
        GitRepo("/tmp")
