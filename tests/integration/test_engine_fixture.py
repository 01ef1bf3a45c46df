import pytest

pytestmark = pytest.mark.integration


def test_engine_fixture_reaches_a_swarm_manager_both_ways(engine):
    info = engine.require_manager()
    assert info["Swarm"]["LocalNodeState"] == "active"
    assert any(n["Name"] == "proxy" for n in engine.networks(filters={"name": ["proxy"]}))
    assert engine.requests >= 2  # both requests on the one connection of this client
