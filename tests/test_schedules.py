import pytest

from utils.errors import ConfigError, UserError
from utils.schedules import Schedule, is_schedule_string, parse_schedule


def test_linear_to_zero_at_start_middle_end():
    sched = parse_schedule("lin_0.001")
    assert sched == Schedule(0.001, 0.0, "linear")
    assert sched(0.0) == 0.001
    assert sched(0.5) == pytest.approx(0.0005)
    assert sched(1.0) == 0.0


def test_linear_start_end():
    sched = parse_schedule("lin_3e-4_1e-5")
    assert (sched.start, sched.end, sched.kind) == (3e-4, 1e-5, "linear")
    assert sched(0.0) == 3e-4
    assert sched(0.5) == pytest.approx((3e-4 + 1e-5) / 2)
    assert sched(1.0) == 1e-5


def test_progress_is_clamped():
    sched = parse_schedule("lin_1_0.5")
    assert sched(-1.0) == 1.0
    assert sched(2.0) == 0.5


@pytest.mark.parametrize("value, expected", [(0.2, 0.2), (3, 3.0), ("3e-4", 3e-4), ("0.001", 0.001), ("1e-3", 1e-3)])
def test_constants(value, expected):
    sched = parse_schedule(value)
    assert sched.kind == "constant"
    assert sched(0.0) == sched(0.7) == sched(1.0) == expected


@pytest.mark.parametrize("bad", ["lin_", "lin_abc", "linear_0.1", "lin_0.1_0.2_0.3", "nan", "", True, None, [0.1]])
def test_bad_values_raise_config_error_naming_allowed_forms(bad):
    with pytest.raises(ConfigError) as info:
        parse_schedule(bad)
    assert "lin_<start>_<end>" in str(info.value)
    assert isinstance(info.value, UserError)


def test_is_schedule_string():
    assert is_schedule_string("lin_0.001")
    assert is_schedule_string("lin_3e-4_0")
    assert not is_schedule_string("0.001")
    assert not is_schedule_string("lin_x")
    assert not is_schedule_string(0.001)
