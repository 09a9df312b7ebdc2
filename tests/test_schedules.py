"""Schedule evaluation: wall-clock windows across DST in three timezones, wrap, overrides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aof.clock import parse_time
from aof.planner.desired import desired_team, evaluate_schedule, in_window

ZONES = ["Europe/Berlin", "America/New_York", "Australia/Sydney"]


def business(tz: str) -> dict[str, Any]:
    return {
        "slug": "s",
        "team": "t",
        "timezone": tz,
        "policy": "business_hours",
        "enabled": True,
        "windows": [{"weekday": d, "start": "09:00", "end": "17:30"} for d in range(5)],
    }


@settings(max_examples=600, deadline=None)
@given(
    tz=st.sampled_from(ZONES),
    # Two years around the 2026 DST changes, minute resolution.
    minute=st.integers(0, 2 * 365 * 24 * 60),
)
def test_business_hours_follow_the_local_wall_clock_across_dst(tz: str, minute: int) -> None:
    zone = ZoneInfo(tz)
    at = datetime(2025, 6, 1, tzinfo=UTC) + timedelta(minutes=minute)
    local = at.astimezone(zone)
    # Independent oracle: the local wall time, from the UTC offset zoneinfo gives for that instant.
    wall = at + local.utcoffset()  # type: ignore[operator]
    expect = wall.weekday() < 5 and (9 * 60) <= wall.hour * 60 + wall.minute < (17 * 60 + 30)
    got = evaluate_schedule(business(tz), at, 0).state
    assert got == ("running" if expect else "paused"), (tz, at, local)


@pytest.mark.parametrize(
    "utc, state",
    [
        ("2026-10-23T07:30:00Z", "running"),  # Fri 09:30 CEST (UTC+2)
        (
            "2026-10-26T07:30:00Z",
            "paused",
        ),  # Mon 08:30 CET: after fall-back the same UTC is earlier
        ("2026-10-26T08:00:00Z", "running"),  # Mon 09:00 CET
        ("2026-03-27T08:00:00Z", "running"),  # Fri 09:00 CET
        ("2026-03-30T07:00:00Z", "running"),  # Mon 09:00 CEST: after spring-forward
        ("2026-03-30T06:59:00Z", "paused"),  # Mon 08:59 CEST
    ],
)
def test_berlin_across_both_2026_changes(utc: str, state: str) -> None:
    assert evaluate_schedule(business("Europe/Berlin"), parse_time(utc), 0).state == state


@pytest.mark.parametrize(
    "window, local, inside",
    [
        ({"start": "22:00", "end": "06:00"}, "2026-11-20T23:00", True),  # every night
        ({"start": "22:00", "end": "06:00"}, "2026-11-21T05:59", True),
        ({"start": "22:00", "end": "06:00"}, "2026-11-21T06:00", False),
        ({"start": "22:00", "end": "06:00"}, "2026-11-21T12:00", False),
        ({"weekday": 4, "start": "22:00", "end": "06:00"}, "2026-11-20T23:00", True),  # Fri night
        (
            {"weekday": 4, "start": "22:00", "end": "06:00"},
            "2026-11-21T05:00",
            True,
        ),  # its Sat morning
        ({"weekday": 4, "start": "22:00", "end": "06:00"}, "2026-11-21T23:00", False),  # Sat night
        (
            {"weekday": 4, "start": "22:00", "end": "06:00"},
            "2026-11-20T05:00",
            False,
        ),  # Fri morning
        ({"start": "00:00", "end": "24:00"}, "2026-11-21T23:59", True),
        ({"weekday": 0, "start": "09:15", "end": "09:45"}, "2026-11-23T09:44", True),  # minutes
        ({"weekday": 0, "start": "09:15", "end": "09:45"}, "2026-11-23T09:45", False),
    ],
)
def test_windows_wrap_midnight_and_use_minutes(
    window: dict[str, Any], local: str, inside: bool
) -> None:
    assert in_window(window, datetime.fromisoformat(local)) is inside


def test_nightly_in_new_york_wraps_across_the_dst_night() -> None:
    sched = {
        "slug": "n",
        "team": "t",
        "timezone": "America/New_York",
        "policy": "nightly",
        "windows": [{"start": "22:00", "end": "06:00"}],
    }
    # 2026-11-01: clocks fall back at 02:00 EDT -> 01:00 EST; the night stays one window.
    for utc, state in [
        ("2026-11-01T05:30:00Z", "running"),  # 01:30 EDT
        ("2026-11-01T06:30:00Z", "running"),  # 01:30 EST (the repeated hour)
        ("2026-11-01T10:59:00Z", "running"),  # 05:59 EST
        ("2026-11-01T11:00:00Z", "paused"),
    ]:  # 06:00 EST
        assert evaluate_schedule(sched, parse_time(utc), 0).state == state, utc


def test_team_takes_the_highest_state_and_overrides_win_until_they_expire() -> None:
    team = {"slug": "t"}
    schedules = [
        business("UTC"),
        {"slug": "m", "team": "t", "timezone": "UTC", "policy": "manual_only"},
    ]
    sat = parse_time("2026-11-21T10:00:00Z")
    mon = parse_time("2026-11-23T10:00:00Z")
    assert desired_team(team, schedules, sat).state == "paused"  # paused beats stopped
    assert desired_team(team, schedules, mon).state == "running"
    assert desired_team(team, [], mon).reason == "team t has no schedule: always on"
    off = [{**s, "enabled": False} for s in schedules]
    assert desired_team(team, off, mon).state == "stopped"
    forced = {
        **team,
        "override": {
            "mode": "force",
            "state": "stopped",
            "until": "2026-11-23T12:00:00Z",
            "note": "incident",
        },
    }
    got = desired_team(forced, schedules, mon)
    assert (got.state, got.override) == ("stopped", True) and "incident" in got.reason
    assert desired_team(forced, schedules, mon + timedelta(hours=3)).state == "running"
    frozen = {**team, "override": {"mode": "freeze", "until": "2026-11-23T12:00:00Z"}}
    assert desired_team(frozen, schedules, mon).state == "paused"
