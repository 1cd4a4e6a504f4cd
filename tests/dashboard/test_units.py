"""The dashboard's small helpers: showing values, loopback addresses, percentiles, cursors."""

from __future__ import annotations

import pytest

from omniq.dashboard.activity import percentile
from omniq.dashboard.display import ago, one_line, shown
from omniq.dashboard.reading import _offset
from omniq.dashboard.security import local_path
from omniq.dashboard.settings import is_loopback, token_from_env
from omniq.exceptions import ConfigurationError
from omniq.serialization.inspection import PICKLED, Pickled, Unreadable


def test_values_are_shown_as_json_and_placeholders_as_what_they_are() -> None:
    assert shown({"a": [1, 2]}).text == '{\n  "a": [\n    1,\n    2\n  ]\n}'
    placeholder = shown(Pickled(120, ("os.system",)))
    assert placeholder.kind == "pickled"
    assert placeholder.text == "pickled, not loaded: 120 bytes, refers to os.system"
    assert "not a valid pickle" in shown(Pickled(3, None)).text
    assert shown(Unreadable("BadSignature: nope")).kind == "unreadable"
    assert shown("x" * 5000, limit=10).text.endswith("(4992 more characters)")
    assert shown(complex(1, 2)).text == "(1+2j)"  # not JSON: its repr
    assert one_line({PICKLED: Pickled(9, ())}, {"n": 1}) == "pickled, not loaded: 9 bytes, n=1"


def test_durations() -> None:
    assert [ago(None), ago(3.25), ago(75), ago(7300), ago(90000)] == [
        "", "3.2s", "1m 15s", "2h 1m", "1d 1h",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.9.1", True), ("::1", True), ("[::1]", True),
     ("localhost", True), ("0.0.0.0", False), ("192.168.1.4", False), ("example.org", False),
     ("::", False)],
)  # fmt: skip
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_the_token_comes_from_the_flag_then_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OMNIQ_DASHBOARD_TOKEN", "from-env")
    assert token_from_env("given") == "given"
    assert token_from_env(None) == "from-env"
    monkeypatch.setenv("OMNIQ_DASHBOARD_TOKEN", "")
    assert token_from_env(None) is None


def test_nearest_rank_percentiles() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([7.0], 0.99) == 7.0


def test_fallback_cursors_are_positions() -> None:
    assert _offset(None) == 0
    assert _offset("+50") == 50
    for bad in ("50", "+x", "+²", "+-1"):
        with pytest.raises(ConfigurationError, match="page cursor"):
            _offset(bad)


def test_redirects_stay_on_the_site() -> None:
    assert local_path("/tasks?queue=a", "/") == "/tasks?queue=a"
    for foreign in ("//evil.test/x", "/\\evil.test", "https://evil.test", "evil", "/a\\b", ""):
        assert local_path(foreign, "/failed") == "/failed"
