"""The embedded dataset: pinned figures against their cited sources, coverage, hashing, unknown zones."""

from __future__ import annotations

import csv
from datetime import datetime, timezone
from importlib import resources

import pytest

from carbonguard.errors import InputError
from carbonguard.intensity import build_source, resolve_zone
from carbonguard.intensity.dataset import DATA_FILES, DATASET_VERSION, dataset_hash, load_dataset
from carbonguard.intensity.errors import UnknownZoneError
from carbonguard.intensity.providers.embedded import EmbeddedSource, residual_mix_series
from carbonguard.intensity.settings import IntensitySettings
from carbonguard.models import Origin

UTC = timezone.utc
# the 30 largest electricity consumers (Ember / Energy Institute, by annual demand)
LARGEST_CONSUMERS = [
    "CN",
    "US",
    "IN",
    "RU",
    "JP",
    "BR",
    "CA",
    "KR",
    "DE",
    "FR",
    "SA",
    "IR",
    "ID",
    "MX",
    "GB",
    "IT",
    "TR",
    "ES",
    "AU",
    "TW",
    "VN",
    "ZA",
    "TH",
    "EG",
    "PL",
    "MY",
    "PK",
    "AR",
    "UA",
    "AE",
]
T0 = datetime(2024, 5, 4, 12, tzinfo=UTC)
T1 = datetime(2024, 5, 4, 14, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "expected", "year"),
    [
        # Our World in Data carbon_intensity_elec, 2023 (as redistributed in CodeCarbon 3.3.2's
        # global_energy_mix.json, 3 decimals); Saudi Arabia's latest year there is 2022
        ("DE", 380.95, 2023),
        ("FR", 56.039, 2023),
        ("US", 369.473, 2023),
        ("IN", 713.441, 2023),
        ("SA", 706.791, 2022),
        # OWID owid-energy-data.csv, row World, 2023
        ("WORLD", 483.18, 2023),
        # Australian National Greenhouse Accounts Factors 2024, scope 2: 0.66 and 0.15 kg CO2-e/kWh
        ("AU-NSW", 660.0, 2024),
        ("AU-TAS", 150.0, 2024),
        # ECCC, Emission factors and reference values v4.0 (2026), Table 5.4, consumption intensities
        # (NIR 1990-2024, Part 3, Tables A7-2 to A7-14): Ontario 73, Alberta 346, Quebec 2.6 g CO2e/kWh
        ("CA-ON", 73.0, 2024),
        ("CA-AB", 346.0, 2024),
        ("CA-QC", 2.6, 2024),
    ],
)
def test_pinned_figures_match_their_cited_source(zone: str, expected: float, year: int) -> None:
    fig = load_dataset().annual[zone]
    assert fig.intensity_g_per_kwh == expected
    assert fig.year == year
    assert fig.source and fig.licence


def test_egrid_subregion_is_converted_from_published_lb_per_mwh() -> None:
    # eGRID2022 CAMX: CO2 497.443, CH4 0.030, N2O 0.004 lb/MWh; AR5 GWP 28 and 265
    co2e_lb = 497.443 + 0.030 * 28 + 0.004 * 265
    fig = load_dataset().annual["US-CAMX"]
    assert fig.intensity_g_per_kwh == pytest.approx(co2e_lb * 0.45359237, abs=0.001)
    assert fig.quality == "derived"


def test_google_published_regional_figure() -> None:
    region = load_dataset().cloud_regions[("gcp", "europe-west9")]
    assert region.zone == "FR"
    assert region.provider_intensity_g_per_kwh == 34  # Google region-carbon-info 2023, Paris
    point = EmbeddedSource().series("gcp:europe-west9", T0, T1)[0]
    assert point.intensity_g_per_kwh == 34
    assert "cloud-provider-figure" in point.flags


def test_coverage_of_countries_and_subnational_grids() -> None:
    data = load_dataset()
    countries = [z for z in data.annual if len(z) == 2]
    assert len(countries) >= 150
    # the 30 largest electricity consumers are all present
    largest = tuple(LARGEST_CONSUMERS)
    for code in largest:
        assert code in data.annual, code
    assert sum(z.startswith("US-") for z in data.annual) >= 26
    assert {"CA-ON", "CA-QC", "AU-NSW", "AU-VIC"} <= set(data.annual)


def test_every_row_cites_source_year_licence_and_quality() -> None:
    for name in ("grid_annual.csv", "residual_mix.csv"):
        text = resources.files("carbonguard.intensity").joinpath("data", name).read_text()
        for row in csv.DictReader(text.splitlines()):
            assert row["source"] and row["licence"] and row["year"].isdigit(), row
            assert row["quality"] in ("published", "published-secondary", "derived", "approximate"), row
            assert 0 <= float(row["intensity_g_per_kwh"]) < 2000, row


def test_points_record_dataset_version_and_hash() -> None:
    blobs = {n: resources.files("carbonguard.intensity").joinpath("data", n).read_bytes() for n in DATA_FILES}
    expected_hash = dataset_hash(blobs)
    point = build_source(None).series("DE", T0, T1)[0]
    assert point.dataset_version == DATASET_VERSION
    assert point.dataset_hash == expected_hash and len(expected_hash) == 64
    assert point.origin == Origin.EMBEDDED and point.kind == "annual" and point.provider == "embedded"
    assert point.year == 2023


def test_hash_changes_when_any_byte_changes() -> None:
    blobs = {n: resources.files("carbonguard.intensity").joinpath("data", n).read_bytes() for n in DATA_FILES}
    changed = dict(blobs, **{"grid_annual.csv": blobs["grid_annual.csv"].replace(b"380.95", b"380.96")})
    assert dataset_hash(changed) != dataset_hash(blobs)


def test_series_returns_one_annual_point_per_calendar_year_covering_the_window() -> None:
    start = datetime(2024, 12, 31, 23, tzinfo=UTC)
    end = datetime(2025, 1, 1, 1, tzinfo=UTC)
    points = EmbeddedSource().series("DE", start, end)
    assert [p.start.year for p in points] == [2024, 2025]
    assert points[0].duration_s == 366 * 86400
    exactly_new_year = EmbeddedSource().series("DE", T0, datetime(2025, 1, 1, tzinfo=UTC))
    assert len(exactly_new_year) == 1


def test_unknown_zone_is_refused_by_default() -> None:
    with pytest.raises(UnknownZoneError) as err:
        build_source(None).series("XX-NOWHERE", T0, T1)
    assert "XX-NOWHERE" in str(err.value) and "unknown_zone" in str(err.value)
    assert isinstance(err.value, InputError)


def test_unknown_zone_warn_uses_flagged_world_average() -> None:
    source = build_source(IntensitySettings(unknown_zone="warn"))
    point = source.series("XX-NOWHERE", T0, T1)[0]
    assert point.intensity_g_per_kwh == load_dataset().annual["WORLD"].intensity_g_per_kwh
    assert "world-average-fallback" in point.flags
    assert "unknown-zone:XX-NOWHERE" in point.flags


@pytest.mark.parametrize(
    ("alias", "zone"),
    [("deu", "DE"), ("US-CA", "US-CAMX"), ("US-CAL-CISO", "US-CAMX"), ("AU-NSW1", "AU-NSW"), ("uk", "GB")],
)
def test_aliases_resolve_and_are_flagged(alias: str, zone: str) -> None:
    point = EmbeddedSource().series(alias, T0, T1)[0]
    assert point.zone == zone
    assert any(f.startswith("zone-alias:") for f in point.flags)


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        # AIB European Residual Mixes 2023, v1.0 (2024-05-30), Table 2, CO2 gCO2/kWh: DE 719,90; FR 40,74; SE 68,23
        ("DE", 719.9),
        ("FR", 40.74),
        ("SE", 68.23),
    ],
)
def test_pinned_residual_mixes_match_aib_table_2(zone: str, expected: float) -> None:
    fig = load_dataset().residual[zone]
    assert fig.intensity_g_per_kwh == expected
    assert fig.year == 2023 and fig.quality == "published-secondary"
    assert "Table 2" in fig.source


def test_austria_has_no_residual_mix_because_aib_prints_none() -> None:
    # AIB 2023 Table 2 prints N/A for Austria (full disclosure); a missing factor is never 0
    from carbonguard.intensity.providers.embedded import residual_mix_series

    with pytest.raises(InputError, match="no residual mix"):
        residual_mix_series("AT", T0, T1)


def test_rows_not_read_from_the_publishers_file_are_flagged_with_their_quality() -> None:
    point = EmbeddedSource().series("WORLD", T0, T1)[0]
    assert load_dataset().annual["WORLD"].quality == "published-secondary"
    assert "quality:published-secondary" in point.flags


def test_cli_text_says_annual_average_and_its_data_year(capsys) -> None:
    from carbonguard.cli.main import main

    assert main(["intensity", "DE", "--at", "2026-03-01T00:00Z"]) == 0
    out = capsys.readouterr().out
    assert "annual average, data year 2023" in out
    assert "2026-01-01T00:00Z" not in out  # the interval start must not read like a 2026 measurement


def test_resolve_zone_explicit_wins_and_cloud_regions_map() -> None:
    assert resolve_zone("de", "aws", "us-east-1") == "DE"
    assert resolve_zone(None, "aws", "us-east-1a") == "US-SRVC"
    assert resolve_zone(None, "gcp", "europe-west4-b") == "NL"
    assert resolve_zone(None, "azure", "West Europe") == "NL"
    assert resolve_zone("azure:uksouth", None, None) == "GB"


def test_resolve_zone_unknown_cloud_region_is_a_clear_input_error() -> None:
    with pytest.raises(InputError) as err:
        resolve_zone(None, "aws", "mars-north-1")
    problem = err.value.problems[0]
    assert problem.field_path == "cloud.region"
    assert "mars-north-1" in problem.message and "us-east-1" in problem.message


def test_resolve_zone_needs_a_location() -> None:
    with pytest.raises(InputError, match="never guesses"):
        resolve_zone(None, None, None)
    with pytest.raises(InputError) as err:
        resolve_zone(None, "gcp", None)
    assert err.value.problems[0].field_path == "cloud.region"
    with pytest.raises(InputError) as err:
        resolve_zone(None, "ibm", "us-south")
    assert err.value.problems[0].field_path == "cloud.provider"


def test_residual_mix_is_a_separate_flagged_series() -> None:
    from carbonguard.intensity.providers.embedded import residual_mix_series

    points = residual_mix_series("deu", T0, T1)
    assert points[0].zone == "DE" and "residual-mix" in points[0].flags
    assert "quality:published-secondary" in points[0].flags  # not read from AIB's own file: marked
    assert "quality:approximate" in residual_mix_series("NO", T0, T1)[0].flags  # still recalled
    assert points[0].intensity_g_per_kwh != load_dataset().annual["DE"].intensity_g_per_kwh
    with pytest.raises(InputError, match="no residual mix"):
        residual_mix_series("JP", T0, T1)


def test_a_figure_more_than_two_years_older_than_the_priced_year_is_flagged_stale() -> None:
    # DE's figure is data year 2023: fresh enough for 2024 and 2025, stale for 2026
    def flags(year: int) -> tuple[str, ...]:
        return (
            EmbeddedSource().series("DE", datetime(year, 3, 1, tzinfo=UTC), datetime(year, 3, 2, tzinfo=UTC))[0].flags
        )

    assert not any(f.startswith("stale-data:") for f in flags(2025))
    assert "stale-data:2023" in flags(2026)
    # a window across New Year: only the point for the stale year carries the flag
    across = EmbeddedSource().series("DE", datetime(2025, 12, 31, 23, tzinfo=UTC), datetime(2026, 1, 1, 1, tzinfo=UTC))
    assert ["stale-data:2023" in p.flags for p in across] == [False, True]
    # residual mixes (AIB 2023) follow the same rule
    assert (
        "stale-data:2023"
        in residual_mix_series("DE", datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC))[0].flags
    )


def test_stale_flag_reaches_the_footprint_so_the_gate_can_see_it() -> None:
    from carbonguard.accounting import compute_footprint
    from carbonguard.models import ComponentEnergy, EnergyMethod, StageRecord

    def footprint(year: int):
        rec = StageRecord(
            run_id="r",
            flow_name="f",
            stage="train",
            start=datetime(year, 3, 1, 12, tzinfo=UTC),
            end=datetime(year, 3, 1, 13, tzinfo=UTC),
            host="h",
            pid=1,
            components=(
                ComponentEnergy(
                    component="gpu", device="g0", method=EnergyMethod.COUNTER, energy_kwh=1.0, source="test"
                ),
            ),
        )
        points = build_source(None).series("DE", rec.start, rec.end)
        return compute_footprint([rec], run_id="r", zone="DE", pue=1.0, points=points)

    assert "stale-data:2023" in footprint(2026).flags
    assert not any(f.startswith("stale-data:") for f in footprint(2025).flags)
