import json
from pathlib import Path

import pytest

from jobtui.engine.domain.definitions import STEPS_WITH_OPS, Definition, DefinitionError, OpDef, ScheduleDef
from jobtui.engine.formats.definition_file import _Checker, load_definition, parse_definition

DATE_HINT = '(try ISO 8601 like 2026-11-23T02:00, "now", "+2h" or "tomorrow 02:00")'

FULL = """\
name = "deploy-web"
type = "deploy"
project = "payments"
natures = ["java"]
system = false
approval = true
approvers = ["alice", "role:release"]
rollback_on_error = true
trap_timeout = "1h"
trap_timeout_action = "retry"
targets = ["web-01", "web-02"]

[schedule]
at = "2026-11-23T02:00:00+01:00"
max_start = "+6h"

[[pre]]
name = "build"
run = "make build"
timeout = "10m"
env = { MODE = "fast", CC = "gcc" }

[[run]]
argv = ["deploy", "--target", "{target}"]
per_target = true
on_error = "trap"
rollback = "undeploy"

[[run]]
call = "jobtui.demo.seed.checks:smoke_test"
timeout = 90

[[post]]
name = "notify"
run = "echo done"
on_error = "ignore"
"""


def refused(text: str, source: str = "deploy.toml") -> list[str]:
    with pytest.raises(DefinitionError) as info:
        parse_definition(text, source)
    assert str(info.value) == "\n".join(info.value.errors)
    return info.value.errors


def refused_one(text: str, source: str = "deploy.toml") -> str:
    errors = refused(text, source)
    assert len(errors) == 1, errors
    return errors[0]


# --- accepted files ---------------------------------------------------------------------------


def test_full_file_is_read_as_written() -> None:
    d = parse_definition(FULL, "deploy.toml")
    assert d.name == "deploy-web"
    assert d.type == "deploy"
    assert d.project == "payments"
    assert d.natures == ("java",)
    assert d.system is False
    assert d.approval is True
    assert d.approvers == ("alice", "role:release")
    assert d.rollback_on_error is True
    assert d.trap_timeout_s == 3600.0
    assert d.trap_timeout_action == "retry"
    assert d.targets == ("web-01", "web-02")
    assert d.schedule == ScheduleDef(at="2026-11-23T02:00:00+01:00", max_start="+6h")
    assert d.source == "deploy.toml"

    assert d.pre == (
        OpDef(
            name="build",
            step="PRE",
            index=0,
            run="make build",
            argv=None,
            call=None,
            per_target=False,
            timeout_s=600.0,
            on_error="fail",
            rollback=None,
            env=(("CC", "gcc"), ("MODE", "fast")),
        ),
    )
    deploy, smoke = d.run
    assert deploy.name == "run-1"
    assert deploy.step == "RUN"
    assert deploy.index == 0
    assert deploy.argv == ("deploy", "--target", "{target}")
    assert deploy.run is None and deploy.call is None
    assert deploy.per_target is True
    assert deploy.on_error == "trap"
    assert deploy.rollback == "undeploy"
    assert deploy.timeout_s is None
    assert smoke.name == "run-2"
    assert smoke.index == 1
    assert smoke.call == "jobtui.demo.seed.checks:smoke_test"
    assert smoke.timeout_s == 90.0
    assert d.post[0].name == "notify"
    assert d.post[0].on_error == "ignore"


def test_minimal_file_gets_documented_defaults() -> None:
    d = parse_definition('name = "nightly"\n', "nightly.toml")
    assert d == Definition(
        name="nightly",
        type="job",
        project="default",
        natures=(),
        system=False,
        approval=False,
        approvers=(),
        rollback_on_error=False,
        trap_timeout_s=1800.0,
        trap_timeout_action="abort",
        targets=(),
        schedule=ScheduleDef(at="now", max_start="+1d"),
        pre=(),
        run=(),
        post=(),
        source="nightly.toml",
    )
    # A job with no ops at all is fine: it just walks its steps.
    assert d.all_ops() == ()


def test_op_defaults() -> None:
    d = parse_definition('name = "x"\n[[run]]\nrun = "true"\n', "x.toml")
    (op,) = d.run
    assert op == OpDef(
        name="run-1",
        step="RUN",
        index=0,
        run="true",
        argv=None,
        call=None,
        per_target=False,
        timeout_s=None,
        on_error="fail",
        rollback=None,
        env=(),
    )


def test_default_op_names_are_per_step_and_one_based() -> None:
    text = 'name = "x"\n' + '[[pre]]\nrun = "a"\n' * 2 + '[[run]]\nrun = "b"\n' * 3 + '[[post]]\nrun = "c"\n'
    d = parse_definition(text, "x.toml")
    assert [op.name for op in d.all_ops()] == ["pre-1", "pre-2", "run-1", "run-2", "run-3", "post-1"]
    assert [op.index for op in d.run] == [0, 1, 2]


def test_ops_by_step_and_in_order() -> None:
    d = parse_definition(FULL, "deploy.toml")
    assert STEPS_WITH_OPS == ("PRE", "RUN", "POST")
    assert d.ops("PRE") == d.pre
    assert d.ops("RUN") == d.run
    assert d.ops("POST") == d.post
    assert d.ops("run") == d.run
    assert d.ops("CHECK") == ()
    assert [op.step for op in d.all_ops()] == ["PRE", "RUN", "RUN", "POST"]


def test_zero_timeouts_mean_no_limit() -> None:
    d = parse_definition('name = "x"\ntrap_timeout = "0"\n[[run]]\nrun = "a"\ntimeout = "0"\n', "x.toml")
    assert d.trap_timeout_s == 0.0
    assert d.run[0].timeout_s is None


def test_same_op_name_allowed_in_different_steps() -> None:
    d = parse_definition(
        'name = "x"\n[[pre]]\nname = "s"\nrun = "a"\n[[post]]\nname = "s"\nrun = "b"\n', "x.toml"
    )
    assert d.pre[0].name == d.post[0].name == "s"


def test_unquoted_toml_datetime_in_schedule_is_kept_as_iso_text() -> None:
    d = parse_definition(
        'name = "x"\n[schedule]\nat = 2026-11-23T02:00:00+01:00\nmax_start = 2026-11-24\n', "x.toml"
    )
    assert d.schedule == ScheduleDef(at="2026-11-23T02:00:00+01:00", max_start="2026-11-24")


@pytest.mark.parametrize("at", ["now", "+2h", "tomorrow 02:00", "2026-11-23", "2026-11-23 02:00"])
def test_schedule_accepts_every_when_form(at: str) -> None:
    d = parse_definition(f'name = "x"\n[schedule]\nat = "{at}"\nmax_start = "+3h"\n', "x.toml")
    assert d.schedule.at == at


def test_definitions_are_hashable_values() -> None:
    a = parse_definition(FULL, "deploy.toml")
    b = parse_definition(FULL, "deploy.toml")
    assert a == b
    assert hash(a) == hash(b)


# --- to_dict / from_dict ----------------------------------------------------------------------


def test_to_dict_is_json_and_round_trips() -> None:
    d = parse_definition(FULL, "deploy.toml")
    stored = json.dumps(d.to_dict())
    assert Definition.from_dict(json.loads(stored)) == d


def test_round_trip_of_defaults() -> None:
    d = parse_definition('name = "x"\n', "x.toml")
    assert Definition.from_dict(json.loads(json.dumps(d.to_dict()))) == d


def test_to_dict_shape() -> None:
    data = parse_definition(FULL, "deploy.toml").to_dict()
    assert data["schedule"]["at"] == "2026-11-23T02:00:00+01:00"
    assert data["schedule"]["max_start"] == "+6h"
    assert Definition.from_dict(data).schedule == parse_definition(FULL, "deploy.toml").schedule
    assert data["targets"] == ["web-01", "web-02"]
    assert data["pre"][0]["env"] == {"CC": "gcc", "MODE": "fast"}
    assert data["run"][0]["argv"] == ["deploy", "--target", "{target}"]
    assert data["source"] == "deploy.toml"


def test_from_dict_with_missing_field_names_the_problem() -> None:
    data = parse_definition(FULL, "deploy.toml").to_dict()
    del data["targets"]
    with pytest.raises(DefinitionError) as info:
        Definition.from_dict(data)
    assert str(info.value) == "deploy.toml: stored definition is damaged (missing 'targets')"


# --- refused files: one problem each ---------------------------------------------------------


def test_invalid_toml() -> None:
    assert refused_one('name = "x"\nrun = \n', "deploy.toml") == (
        "deploy.toml: invalid TOML: Invalid value (at line 2, column 7)"
    )


def test_missing_name() -> None:
    assert refused_one('type = "deploy"\n') == 'deploy.toml: "name" is required'


def test_empty_name() -> None:
    assert refused_one('name = "  "\n') == 'deploy.toml:1: "name": must not be empty'


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("name = 3", '"name": expected a string, got 3'),
        ('type = ["a"]', '"type": expected a string, got ["a"]'),
        ("project = true", '"project": expected a string, got true'),
        # As a policy's projects: a name no job's project matches, or one that reads as another.
        ('project = " payments"', '"project": " payments" must not start or end with a space'),
        ('project = "payments\\t"', '"project": "payments\\t" must not start or end with a space'),
        (
            'project = "pay\\u001b[2Jments"',
            '"project": "pay\\u001b[2Jments" must not hold control or invisible characters',
        ),
        (
            'project = "pay\\u202ements"',
            '"project": "pay\u202ements" must not hold control or invisible characters',
        ),
        # An approver or a target written with a space around it matched no login, no host.
        ('approvers = ["alice", " bob"]', '"approvers": item 2 " bob" must not start or end with a space'),
        ('targets = ["web-01", "web-02 "]', '"targets": item 2 "web-02 " must not start or end with a space'),
        ('approval = "yes"', '"approval": expected true or false, got "yes"'),
        ("system = 1", '"system": expected true or false, got 1'),
        ('rollback_on_error = "no"', '"rollback_on_error": expected true or false, got "no"'),
        ('natures = "java"', '"natures": expected a list of strings, got "java"'),
        ('natures = ["java", 3]', '"natures": expected a list of strings, but item 2 is 3'),
        ('approvers = ["alice", ""]', '"approvers": item 2 must not be empty'),
        ('targets = ["web-01", "web-02", "web-01"]', '"targets": "web-01" is listed more than once'),
        ('targets = [""]', '"targets": item 1 must not be empty'),
        ('trap_timeout = "10 minutes"', '"trap_timeout": "10 minutes" is not a duration (try "10m")'),
        ("trap_timeout = -5", '"trap_timeout": "-5" is not a duration (try "10m")'),
        ("trap_timeout = [1]", '"trap_timeout": expected a duration like "10m", got [1]'),
        (
            'trap_timeout_action = "abrt"',
            '"trap_timeout_action": expected "abort", "skip" or "retry", got "abrt"',
        ),
        ('schedule = "now"', '"schedule": expected a table ([schedule]), got "now"'),
        ('run = "make"', '"run": expected an array of tables ([[run]]), got "make"'),
        ('pre = ["make"]', '"pre": expected an array of tables ([[pre]]), but item 1 is "make"'),
        ('nmae = "x"', 'unknown key "nmae" at top level (did you mean "name"?)'),
        ('colour = "x"', 'unknown key "colour" at top level'),
    ],
)
def test_top_level_field_errors(line: str, message: str) -> None:
    text = f"# deploy job\n{line}\n"
    if not line.startswith("name"):
        text = 'name = "x"\n' + text
        expected_line = 3
    else:
        expected_line = 2
    assert refused_one(text) == f"deploy.toml:{expected_line}: {message}"


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ('at = "next tuesday"', f'[schedule] "at": "next tuesday" is not a date {DATE_HINT}'),
        ('max_start = "whenever"', f'[schedule] "max_start": "whenever" is not a date {DATE_HINT}'),
        ('max_start = "+1 day"', '[schedule] "max_start": "+1 day" is not a date (try "+1d")'),
        ("at = 5", '[schedule] "at": expected a date as a string, got 5'),
        ("at = 02:00:00", '[schedule] "at": expected a date as a string, got 02:00:00'),
        ('att = "now"', 'unknown key "att" in [schedule] (did you mean "at"?)'),
    ],
)
def test_schedule_errors(lines: str, message: str) -> None:
    text = f'name = "x"\n\n[schedule]\n{lines}\n'
    assert refused_one(text) == f"deploy.toml:4: {message}"


@pytest.mark.parametrize(
    ("window", "line"),
    [
        ('window = { from = "22:00", to = "04:00", extra = 1 }\n', 5),
        ('[schedule.window]\nfrom = "22:00"\nto = "04:00"\n\nextra = 1\n', 9),
        ('window.from = "22:00"\nwindow.to = "04:00"\nwindow.extra = 1\n', 7),
    ],
)
def test_an_unknown_key_in_the_window_has_its_line(window: str, line: int) -> None:
    """An inline table's keys are on its line; it was reported with no line at all."""
    text = f'name = "x"\n\n[schedule]\nmode = "window"\n{window}'
    assert refused_one(text) == f'deploy.toml:{line}: unknown key "extra" in [schedule] "window"'


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            'mode = "window"\nwindow = { from = "２２:００", to = "04:00" }',
            '5: [schedule] "window": "from": "２２:００" is not a time of day (try "22:00")',
        ),
        ('at = "+١٠m"', '4: [schedule] "at": "+١٠m" is not a date (try "+10m")'),
        ('at = "tomorrow ０２:００"', f'4: [schedule] "at": "tomorrow ０２:００" is not a date {DATE_HINT}'),
    ],
)
def test_schedule_times_in_digits_other_than_0_9_are_refused(lines: str, message: str) -> None:
    text = f'name = "x"\n\n[schedule]\n{lines}\n'
    assert refused_one(text) == f"deploy.toml:{message}"


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ('timeout = "10 minutes"', '[[run]] #2 "timeout": "10 minutes" is not a duration (try "10m")'),
        ("timeout = true", '[[run]] #2 "timeout": "true" is not a duration (try "10m")'),
        ('on_error = "explode"', '[[run]] #2 "on_error": expected "fail", "trap" or "ignore", got "explode"'),
        ('per_target = "yes"', '[[run]] #2 "per_target": expected true or false, got "yes"'),
        ("rollback = 1", '[[run]] #2 "rollback": expected a string, got 1'),
        ('name = ""', '[[run]] #2 "name": must not be empty'),
        ("env = { PORT = 8080 }", '[[run]] #2 "env": value of "PORT" must be a string, got 8080'),
        ('env = "A=1"', '[[run]] #2 "env": expected a table of strings, got "A=1"'),
        # Found by review: the op read the definition's value as its job's id.
        (
            'env = { JOBTUI_JOB_ID = "999" }',
            '[[run]] #2 "env": JOBTUI_JOB_ID is the engine\'s to set, for every op',
        ),
        ('timeot = "5m"', 'unknown key "timeot" in [[run]] #2 (did you mean "timeout"?)'),
        ('timeout = "١٠s"', '[[run]] #2 "timeout": "١٠s" is not a duration (try "10s")'),
    ],
)
def test_op_field_errors(lines: str, message: str) -> None:
    text = f'name = "x"\n\n[[run]]\nrun = "a"\n\n[[run]]\nrun = "b"\n{lines}\n'
    assert refused_one(text) == f"deploy.toml:8: {message}"


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ('call = "checks.smoke"', '"call": "checks.smoke" is not of the form "module.path:function"'),
        ('call = "a b:c"', '"call": "a b:c" is not of the form "module.path:function"'),
        ("argv = []", '"argv": expected a non-empty list of strings, got []'),
        ('argv = "make build"', '"argv": expected a non-empty list of strings, got "make build"'),
        ('argv = ["make", 1]', '"argv": expected a non-empty list of strings, got ["make", 1]'),
        ('argv = ["", "x"]', '"argv": the program (first item) must not be empty'),
        ('run = ""', '"run": must not be empty'),
    ],
)
def test_op_action_errors(lines: str, message: str) -> None:
    text = f'name = "x"\n[[pre]]\n{lines}\n'
    assert refused_one(text) == f"deploy.toml:3: [[pre]] #1 {message}"


def test_op_with_no_action() -> None:
    text = 'name = "x"\n[[post]]\nname = "idle"\n'
    assert refused_one(text) == 'deploy.toml:2: [[post]] #1: needs one of "run", "argv" or "call"'


def test_op_with_two_actions() -> None:
    text = 'name = "x"\n[[run]]\nrun = "make"\nargv = ["make"]\n'
    assert refused_one(text) == 'deploy.toml:2: [[run]] #1: give only one of "run", "argv", "call"'


def test_duplicate_op_names_within_a_step() -> None:
    text = 'name = "x"\n[[run]]\nname = "build"\nrun = "a"\n[[run]]\nname = "build"\nrun = "b"\n'
    assert refused_one(text) == 'deploy.toml:6: [[run]] #2 "name": "build" is already used by [[run]] #1'


def test_explicit_name_clashing_with_a_default_name() -> None:
    text = 'name = "x"\n[[run]]\nname = "run-2"\nrun = "a"\n[[run]]\nrun = "b"\n'
    assert refused_one(text) == 'deploy.toml: [[run]] #2 "name": "run-2" is already used by [[run]] #1'


def test_env_error_in_sub_table_points_at_its_header() -> None:
    text = 'name = "x"\n[[run]]\nrun = "a"\n[[run]]\nrun = "b"\n[run.env]\nPORT = 1\n'
    assert refused_one(text) == 'deploy.toml:6: [[run]] #2 "env": value of "PORT" must be a string, got 1'


def test_line_is_omitted_when_it_cannot_be_located() -> None:
    text = 'name = "x"\nrun = [{ run = "a", timeout = "soon" }]\n'
    assert refused_one(text) == 'deploy.toml: [[run]] #1 "timeout": "soon" is not a duration (try "10m")'


def test_multiline_strings_do_not_confuse_line_numbers() -> None:
    text = 'name = "x"\n[[run]]\nrun = """\n[[run]]\ntimeout = 1\n"""\ntimeout = "later"\n'
    assert refused_one(text) == 'deploy.toml:7: [[run]] #1 "timeout": "later" is not a duration (try "10m")'


def test_unknown_table_is_reported_at_its_header() -> None:
    text = 'name = "x"\n\n[schedul]\nat = "now"\n'
    assert refused_one(text) == 'deploy.toml:3: unknown key "schedul" at top level (did you mean "schedule"?)'


# --- refused files: everything reported at once ----------------------------------------------

BROKEN = """\
name = "deploy-web"
approval = "yes"
targets = ["web-01", "web-01"]
trap_timeout_action = "abrt"

[schedule]
at = "next tuesday"

[[run]]
name = "build"
run = "make build"

[[run]]
name = "build"
timeout = "10 minutes"
timeot = "5m"
call = "mod"
"""


def test_all_errors_are_reported_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "deploy.toml"
    path.write_text(BROKEN, encoding="utf-8")
    with pytest.raises(DefinitionError) as info:
        load_definition(path)
    p = str(path)
    assert info.value.errors == [
        f'{p}:2: "approval": expected true or false, got "yes"',
        f'{p}:3: "targets": "web-01" is listed more than once',
        f'{p}:4: "trap_timeout_action": expected "abort", "skip" or "retry", got "abrt"',
        f'{p}:7: [schedule] "at": "next tuesday" is not a date {DATE_HINT}',
        f'{p}:14: [[run]] #2 "name": "build" is already used by [[run]] #1',
        f'{p}:15: [[run]] #2 "timeout": "10 minutes" is not a duration (try "10m")',
        f'{p}:16: unknown key "timeot" in [[run]] #2 (did you mean "timeout"?)',
        f'{p}:17: [[run]] #2 "call": "mod" is not of the form "module.path:function"',
    ]
    assert str(info.value) == "\n".join(info.value.errors)


def test_definition_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_definition("", "empty.toml")


def test_duplicate_targets_among_many_are_each_refused_with_their_line() -> None:
    targets = [f"web-{n:04}" for n in range(5000)] + ["web-0007", "web-4999", "web-0007"]
    text = f"name = 'wide'\ntargets = {json.dumps(targets)}\n[[run]]\nrun = 'true'\n"
    with pytest.raises(DefinitionError) as info:
        parse_definition(text, "wide.toml")
    assert info.value.errors == [
        'wide.toml:2: "targets": "web-0007" is listed more than once',
        'wide.toml:2: "targets": "web-4999" is listed more than once',
        'wide.toml:2: "targets": "web-0007" is listed more than once',
    ]


class Compared(str):
    """A target that counts the equality tests it takes part in."""

    tests = 0

    def __eq__(self, other: object) -> bool:
        Compared.tests += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def test_a_list_is_checked_for_duplicates_in_linear_time() -> None:
    # A job may name 100,000 targets: comparing each with every one before it took over a minute. What is
    # counted is equality tests, not time (the speed itself is the benchmarks' business).
    checker = _Checker("targets = []", "wide.toml")
    targets = [Compared(f"web-{n:05}") for n in range(2000)]
    Compared.tests = 0
    assert checker.strings({"targets": [*targets, targets[7]]}, None, "", "targets", unique=True) == tuple(
        targets
    )
    assert checker.errors == [(1, 'wide.toml:1: "targets": "web-00007" is listed more than once')]
    assert Compared.tests < 2 * len(targets)


# --- load_definition --------------------------------------------------------------------------


def test_load_definition_reads_file_and_records_source(tmp_path: Path) -> None:
    path = tmp_path / "deploy.toml"
    path.write_text(FULL, encoding="utf-8")
    d = load_definition(path)
    assert d.source == str(path)
    assert d == parse_definition(FULL, str(path))
    assert load_definition(str(path)) == d


def test_load_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(DefinitionError) as info:
        load_definition(path)
    assert str(info.value) == f"{path}: cannot read file: No such file or directory"


def test_load_directory(tmp_path: Path) -> None:
    """As README says a folder is refused (it said "cannot read file: Is a directory"; found by QA)."""
    with pytest.raises(DefinitionError) as info:
        load_definition(tmp_path)
    assert str(info.value) == f"{tmp_path}: not a regular file (a folder)"


def test_load_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "deploy.toml"
    path.write_bytes(b'name = "\xff\xfe"\n')
    with pytest.raises(DefinitionError) as info:
        load_definition(path)
    assert str(info.value) == f"{path}: cannot read file: not UTF-8 text (invalid start byte)"


# --- dates refused at submission ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        (
            'at = "2099-01-02T00:00:00Z"\nexpires = "2099-01-01T00:00:00Z"',
            '5: [schedule] "expires" "2099-01-01T00:00:00Z" is before the scheduled date, '
            '"at" "2099-01-02T00:00:00Z"',
        ),
        # As written, not as the instants they stand for (the end of 2026-12-31 read as 2027-01-01).
        (
            'mode = "window"\nstart = "2027-01-01"\nexpires = "2026-12-31"',
            '6: [schedule] "expires" "2026-12-31" is not after "start" "2027-01-01"',
        ),
        (
            'expires = "2098-12-31"\nat = "2099-01-01T12:00:00Z"',
            '4: [schedule] "expires" "2098-12-31" is before the scheduled date, "at" "2099-01-01T12:00:00Z"',
        ),
        (
            'mode = "window"\nstart = "+2d"\nexpires = "+1d"',
            '6: [schedule] "expires" "+1d" (2026-06-02T00:00:00+00:00) is not after "start" "+2d" '
            "(2026-06-03T00:00:00+00:00)",
        ),
        # A Max Start Date already past is that, not a conflict with a RUN date of "now".
        (
            'max_start = "2020-01-01T00:00:00Z"',
            '4: [schedule] "max_start": "2020-01-01T00:00:00Z": the Max Start Date 2020-01-01T00:00:00+00:00 '
            "is already past (now 2026-06-01T00:00:00+00:00): the job would expire before it could start",
        ),
        (
            'at = "2020-01-01T00:00:00Z"',
            '4: [schedule] "at": "2020-01-01T00:00:00Z": the Max Start Date 2020-01-02T00:00:00+00:00 '
            "(+1d after this RUN date) is already past",
        ),
        (
            'mode = "window"\nwindow = { from = "22:00", to = "23:00" }\ndays = ["mon"]\n'
            'start = "2026-06-02"\nexpires = "2026-06-05"',
            '5: [schedule] "window": never open between',
        ),
    ],
)
def test_a_date_refused_at_submission_names_the_file_and_the_line_of_its_key(
    schedule: str, message: str
) -> None:
    """They read `d.toml: [schedule] "expires" ...`, when every other problem of a definition has its line."""
    import pendulum

    from jobtui.engine.domain.schedules import resolve

    text = f'name = "x"\n[schedule]\ntimezone = "UTC"\n{schedule}\n[[run]]\nrun = "a"\n'
    with pytest.raises(ValueError) as info:
        resolve(parse_definition(text, "d.toml"), pendulum.datetime(2026, 6, 1, tz="UTC"))
    assert str(info.value).startswith(f"d.toml:{message}"), str(info.value)


def test_where_keys_are_written_is_no_part_of_the_definitions_value() -> None:
    moved = parse_definition('name = "x"\n\n[schedule]\n\nat = "+1h"\n[[run]]\nrun = "a"\n', "d.toml")
    plain = parse_definition('name = "x"\n[schedule]\nat = "+1h"\n[[run]]\nrun = "a"\n', "d.toml")
    assert moved.schedule.line("at") == 5 and plain.schedule.line("at") == 3
    assert moved == plain and hash(moved) == hash(plain)
    assert Definition.from_dict(moved.to_dict()) == moved
