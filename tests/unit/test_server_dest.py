import pytest

from coopcloud.domain.server import parse_destination
from coopcloud.errors import UsageError


@pytest.mark.parametrize(
    "dest, name, endpoint",
    [
        ("cloud.example.org", "cloud.example.org", "ssh://cloud.example.org"),
        ("root@203.0.113.7:2222", "203.0.113.7", "ssh://root@203.0.113.7:2222"),
        ("myalias", "myalias", "ssh://myalias"),
        ("ssh://u@h", "h", "ssh://u@h"),
    ],
)
def test_destinations(dest, name, endpoint):
    s = parse_destination(dest)
    assert (s.name, s.endpoint) == (name, endpoint)


@pytest.mark.parametrize("dest", ["-oProxyCommand=x", "-v", "u@-h", "-u@h", "h:99999", "a b", "default", ""])
def test_refused(dest):
    with pytest.raises(UsageError):
        parse_destination(dest)
