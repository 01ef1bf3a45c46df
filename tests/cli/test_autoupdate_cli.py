"""`coop autoupdate`'s refusals before it asks any server: one line, the documented exit code."""

from __future__ import annotations

import json


def test_refusals_come_first_and_name_the_next_step(coop):
    r = coop("autoupdate", "--notify-url", "file:///etc/passwd")
    assert r.code == 2 and r.err.startswith("error: --notify-url must be an http:// or https:// URL"), r
    r = coop("autoupdate", "--server", "nosuch.example.org")
    assert r.code == 3 and "coop server add nosuch.example.org" in r.err, r
    r = coop("autoupdate", "--app", "nosuch.example.org", "--dry-run")
    assert r.code == 3 and "nosuch.example.org" in r.err and "Traceback" not in r.err, r


def test_no_server_nothing_to_do(coop):
    r = coop("autoupdate", "--json")
    assert (r.code, json.loads(r.out)) == (0, [])
    r = coop("autoupdate", "--dry-run")
    assert r.code == 0 and "no deployed apps on any server" in r.err, r


def test_the_help_shows_a_timer_and_a_cron_line(coop, capsys):
    assert coop("autoupdate", "--help").code == 0
    page = capsys.readouterr().out  # click writes help to the process's stdout
    assert "OnCalendar=" in page and "0 4 * * * coop autoupdate --no-input" in page
