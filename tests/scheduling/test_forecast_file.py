"""Forecast files: column defaults, intervals, and one located error per kind of bad input."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from carbonguard.errors import InputError
from carbonguard.scheduling.forecast_file import read_forecast
from carbonguard.scheduling.series import Series
from carbonguard.scheduling.window import best_window

from .conftest import FIXTURE, T0


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_gb_fixture_defaults() -> None:
    f = read_forecast(FIXTURE, "GB")
    assert (f.time_column, f.value_column) == ("time", "intensity")
    assert len(f.points) == 96 and f.points[0].start == T0 and f.points[0].duration_s == 1800
    assert "1800" in f.interval


def test_first_numeric_column_when_none_is_named_intensity(tmp_path: Path) -> None:
    p = _write(tmp_path, "f.csv", "region,from,g\nGB,2023-05-04T12:30Z,11\nGB,2023-05-04T13:00Z,15\n")
    f = read_forecast(p, "GB")
    assert (f.time_column, f.value_column) == ("from", "g")


def test_naive_time_is_refused_with_file_and_line(tmp_path: Path) -> None:
    p = _write(tmp_path, "f.csv", "time,intensity\n2023-05-04T12:30Z,11\n2023-05-04T13:00,15\n")
    with pytest.raises(InputError) as info:
        read_forecast(p, "GB")
    assert str(info.value).startswith(f"{p}:3: time: ") and "no UTC offset" in str(info.value)


def test_naive_time_in_json_names_the_line(tmp_path: Path) -> None:
    doc = '{"points": [\n  {"start": "2023-05-04T12:30Z", "v": 1},\n  {"start": "2023-05-04T13:00", "v": 2}\n]}'
    p = _write(tmp_path, "f.json", doc)
    with pytest.raises(InputError) as info:
        read_forecast(p, "GB")
    assert str(info.value).startswith(f"{p}:3: start: ")


@pytest.mark.parametrize(
    ("body", "where", "words"),
    [
        ("time,intensity\n2023-05-04T12:00Z,1\n2023-05-04T12:30Z,abc\n", ":3: intensity", "non-negative"),
        ("time,intensity\n2023-05-04T12:00Z,1\n2023-05-04T12:30Z,-4\n", ":3: intensity", "non-negative"),
        ("time,intensity\n2023-05-04T12:00Z,1\n2023-05-04T12:30Z,nan\n", ":3: intensity", "non-negative"),
        ("time,intensity\n2023-05-04T12:30Z,1\n2023-05-04T12:30Z,2\n", ":3: time", "repeats"),
        ("time,intensity\n2023-05-04T12:30Z,1,9\n", ":2", "fields"),
        ("time,intensity\nyesterday,1\n", ":2: --time-column", "ISO 8601"),
        ("time,intensity\n2023-05-04T12:30Z,1\n", ":2: time", "how long"),
        ("", "", "header"),
    ],
)
def test_bad_csv_is_located(tmp_path: Path, body: str, where: str, words: str) -> None:
    p = _write(tmp_path, "f.csv", body)
    with pytest.raises(InputError) as info:
        read_forecast(p, "GB")
    assert str(info.value).startswith(f"{p}{where}") and words in str(info.value)


def test_unknown_column_lists_the_columns(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        read_forecast(FIXTURE, "GB", value_column="carbon")
    assert "--value-column" in str(info.value) and "deltaseconds" in str(info.value)


def test_an_empty_value_is_a_gap_never_zero(tmp_path: Path) -> None:
    rows = ["time,intensity", "2023-05-04T12:30Z,50", "2023-05-04T13:00Z,", "2023-05-04T13:30Z,50",
            "2023-05-04T14:00Z,40"]
    f = read_forecast(_write(tmp_path, "f.csv", "\n".join(rows) + "\n"), "GB")
    assert len(f.points) == 3
    r = best_window(Series.from_points(f.points), timedelta(hours=1), T0)
    assert r.best is not None and r.best.start == T0 + timedelta(hours=1) and r.best.mean_g_per_kwh == 45


def test_a_missing_row_leaves_a_gap_after_the_usual_step(tmp_path: Path) -> None:
    rows = ["time,intensity", "2023-05-04T12:30Z,1", "2023-05-04T13:00Z,1", "2023-05-04T15:00Z,1",
            "2023-05-04T15:30Z,1"]
    f = read_forecast(_write(tmp_path, "f.csv", "\n".join(rows) + "\n"), "GB")
    assert [p.duration_s for p in f.points] == [1800] * 4


def test_end_column_and_nested_json_value(tmp_path: Path) -> None:
    doc = {"data": [{"from": "2023-05-04T12:30Z", "to": "2023-05-04T13:00Z", "intensity": {"forecast": 7}},
                    {"from": "2023-05-04T13:00Z", "to": "2023-05-04T14:00Z", "intensity": {"forecast": 9}}]}
    p = _write(tmp_path, "gb.json", json.dumps(doc))
    f = read_forecast(p, "GB", value_column="intensity.forecast")
    assert [(x.duration_s, x.intensity_g_per_kwh) for x in f.points] == [(1800, 7.0), (3600, 9.0)]
    assert f.interval == "end column to"


def test_invalid_json_names_line(tmp_path: Path) -> None:
    p = _write(tmp_path, "f.json", '[\n{"start": "2023-05-04T12:30Z",\n "v": }\n]')
    with pytest.raises(InputError) as info:
        read_forecast(p, "GB")
    assert str(info.value).startswith(f"{p}:3:") and "not valid JSON" in str(info.value)
