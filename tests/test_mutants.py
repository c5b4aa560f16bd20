"""The mutation self-check's own logic: the catalogue as committed, rewrites, verdicts, reports, and a matrix
stopped by Ctrl-C leaving nothing behind. (`tox -e mutants` runs the whole matrix.)"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest

from harness.catalogue import rows
from harness.plan import extra_case_ids
from mutants.catalogue import (
    PROJECT_ROOT,
    CatalogueError,
    Mutant,
    Rewrite,
    apply_rewrites,
    coverage_problems,
    load_catalogue,
    parse_mutant,
    rewrite_problems,
)
from mutants.matrix import CaseResult, Matrix, RunResult, Verdict, baseline_problem, read_results
from mutants.report import terminal_table, to_html, to_json, to_markdown
from mutants.run import TREE, child_environment, prepare_template, select
from mutants.servers import Servers
from reference_impl.stack.processes import wait_until

ROWS = [row.id for row in rows()]
EXTRAS = extra_case_ids()


# ---- the catalogue as committed --------------------------------------------------------------------------------


def test_the_catalogue_covers_every_row_and_extra_case_and_applies_to_the_tree() -> None:
    catalogue = load_catalogue()
    assert len(catalogue) >= 50
    assert sum(mutant.equivalent for mutant in catalogue) >= 5
    assert rewrite_problems(catalogue) == []
    assert coverage_problems(catalogue, ROWS, EXTRAS) == []
    assert len(ROWS) >= 38 and EXTRAS  # checked against the real suite, not an empty one


def test_every_mutant_changes_the_system_under_test_only() -> None:
    for mutant in load_catalogue():
        assert all(rewrite.file.startswith("reference_impl/") for rewrite in mutant.rewrites), mutant.name


# ---- parsing ---------------------------------------------------------------------------------------------------

GOOD_REWRITE = '[[rewrite]]\nfile = "reference_impl/auth/router.py"\nold = "a"\nnew = "b"\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('description = "x"\nexpect = ["AUTH-REG-01"]\nextra = 1\n' + GOOD_REWRITE, "unknown key(s) extra"),
        (
            'description = "x"\nexpect = ["AUTH-REG-01"]\nequivalent = true\n' + GOOD_REWRITE,
            "expects no case",
        ),
        ('description = "x"\n' + GOOD_REWRITE, "name the case ids"),
        (
            'description = "x"\nexpect = ["AUTH-REG-01", "AUTH-REG-01"]\n' + GOOD_REWRITE,
            "names a case id twice",
        ),
        ('description = "x"\nexpect = ["AUTH-REG-01"]\n', "at least one [[rewrite]]"),
        ('expect = ["AUTH-REG-01"]\n' + GOOD_REWRITE, "`description` must be a non-empty string"),
        (
            'description = "x"\nexpect = ["A"]\n[[rewrite]]\nfile = "harness/case.py"\nold = "a"\nnew = "b"\n',
            "is not a file of reference_impl/",
        ),
        (
            'description = "x"\nexpect = ["A"]\n[[rewrite]]\nfile = "reference_impl/../steps/a.py"\nold = "a"\nnew = "b"\n',
            "is not a file of reference_impl/",
        ),
        (
            'description = "x"\nexpect = ["A"]\n[[rewrite]]\nfile = "reference_impl/x.toml"\nold = "a"\nnew = "b"\n',
            "not a Python or SQL file",
        ),
        (
            'description = "x"\nexpect = ["A"]\n[[rewrite]]\nfile = "reference_impl/a.py"\nold = "a"\nnew = "a"\n',
            "`new` is the same as `old`",
        ),
        (
            'description = "x"\nequivalent = true\ngap = "why"\n' + GOOD_REWRITE,
            "an equivalent mutant is no gap",
        ),
        ('description = "x\nexpect = []\n', "not valid TOML"),
    ],
)
def test_a_mutant_file_that_cannot_be_used_is_refused_naming_why(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogueError) as raised:
        parse_mutant(path)
    assert str(raised.value).startswith("broken.toml") and message in str(raised.value)


# ---- rewrites --------------------------------------------------------------------------------------------------


def _mutant(*rewrites: Rewrite, expect: tuple[str, ...] = ("AUTH-REG-01",), gap: str | None = None) -> Mutant:
    return Mutant("m", "a mutant", expect, not expect, rewrites, gap)


def _tree(tmp_path: Path, text: str) -> Path:
    (tmp_path / "reference_impl").mkdir()
    (tmp_path / "reference_impl" / "a.py").write_text(text, encoding="utf-8")
    return tmp_path


def test_rewrites_apply_in_order_to_the_copy_they_are_given(tmp_path: Path) -> None:
    tree = _tree(tmp_path, "x = 1\ny = 2\n")
    apply_rewrites(
        tree,
        _mutant(
            Rewrite("reference_impl/a.py", "x = 1", "x = 3"), Rewrite("reference_impl/a.py", "x = 3", "x = 4")
        ),
    )
    assert (tree / "reference_impl" / "a.py").read_text(encoding="utf-8") == "x = 4\ny = 2\n"


@pytest.mark.parametrize(
    ("text", "found"), [("x = 1\nx = 1\n", "found 2 times"), ("z = 0\n", "found nowhere")]
)
def test_a_rewrite_that_does_not_match_exactly_once_refuses_the_mutant_and_writes_nothing(
    tmp_path: Path, text: str, found: str
) -> None:
    tree = _tree(tmp_path, text)
    (tree / "reference_impl" / "b.py").write_text("w = 0\n", encoding="utf-8")
    mutant = _mutant(
        Rewrite("reference_impl/b.py", "w = 0", "w = 1"), Rewrite("reference_impl/a.py", "x = 1", "x = 2")
    )
    with pytest.raises(CatalogueError, match=found):
        apply_rewrites(tree, mutant)
    assert (tree / "reference_impl" / "b.py").read_text(encoding="utf-8") == "w = 0\n"
    (problem,) = rewrite_problems((mutant,), tree)
    assert found in problem


def test_coverage_names_rows_and_extras_no_mutant_proves_and_unknown_expectations() -> None:
    mutants = (
        _mutant(expect=("AUTH-REG-01", "NO-SUCH-01")),
        _mutant(expect=("EXTRA-DB-01",), gap="not caught yet"),  # a known gap proves nothing
    )
    problems = coverage_problems(mutants, ["AUTH-REG-01", "AUTH-REG-02"], ["EXTRA-DB-01"])
    assert problems == [
        "m: expects NO-SUCH-01, which is no checklist row or @extra case",
        "checklist row AUTH-REG-02 is the expected killer of no mutant",
        "@extra case EXTRA-DB-01 is the expected killer of no mutant",
    ]


# ---- verdicts --------------------------------------------------------------------------------------------------


def _run(**outcomes: str) -> RunResult:
    cases = [
        CaseResult(case_id.replace("_", "-"), outcome, None, f"why {case_id}")
        for case_id, outcome in outcomes.items()
    ]
    return RunResult("m", 1.0, tuple(cases))


@pytest.mark.parametrize(
    ("expect", "gap", "outcomes", "status", "ok"),
    [
        (("A-01",), None, {"A_01": "failed", "B_01": "passed"}, "killed", True),
        (("A-01",), None, {"A_01": "blocked", "B_01": "failed"}, "killed", True),
        (("A-01", "B-01"), None, {"A_01": "failed", "B_01": "passed"}, "not as expected", False),
        (("A-01",), None, {"A_01": "passed", "B_01": "skipped"}, "survived", False),
        ((), None, {"A_01": "passed", "B_01": "passed"}, "equivalent", True),
        ((), None, {"A_01": "passed", "B_01": "failed"}, "equivalent failed", False),
        (("A-01",), "why", {"A_01": "passed", "B_01": "failed"}, "known gap", True),
        (("A-01",), "why", {"A_01": "failed"}, "gap closed", False),
    ],
)
def test_verdicts(
    expect: tuple[str, ...], gap: str | None, outcomes: dict[str, str], status: str, ok: bool
) -> None:
    verdict = Verdict(_mutant(expect=expect, gap=gap), _run(**outcomes))
    assert verdict.status == status
    assert verdict.ok is ok
    assert (verdict.problem() is None) is ok


def test_cells_say_as_expected_unexpected_and_survived() -> None:
    verdict = Verdict(_mutant(expect=("A-01", "C-01")), _run(A_01="failed", B_01="blocked", C_01="passed"))
    assert [verdict.cell(case) for case in ("A-01", "B-01", "C-01", "D-01")] == [
        "killed-as-expected",
        "killed-unexpected",
        "survived",
        "",
    ]


def test_a_run_that_did_not_complete_is_an_error_not_a_kill(tmp_path: Path) -> None:
    missing = read_results("m", 1.0, tmp_path / "results.json", "ERROR: checklist target unusable")
    assert missing.error == "the checklist run wrote no results.json: ERROR: checklist target unusable"
    assert Verdict(_mutant(), missing).status == "error"
    path = tmp_path / "interrupted.json"
    path.write_text(
        json.dumps({"run": {"status": "interrupted", "error": None}, "cases": []}), encoding="utf-8"
    )
    assert read_results("m", 1.0, path, "tail").error == "the checklist run is interrupted: tail"


def test_the_baseline_must_pass_every_case() -> None:
    assert baseline_problem(_run(A_01="passed")) is None
    assert baseline_problem(RunResult("baseline", 1.0)) == "the checklist ran no case"
    problem = baseline_problem(_run(A_01="passed", B_01="skipped"))
    assert problem == "the unmutated tree does not pass every case: B-01 skipped: why B_01"


# ---- reports ---------------------------------------------------------------------------------------------------


def _matrix(verdicts: tuple[Verdict, ...]) -> Matrix:
    return Matrix(
        started_at=datetime(2026, 12, 3, 17, 0, tzinfo=UTC),
        wall_s=100.0,
        servers_s=1.5,
        jobs=2,
        status="completed",
        columns=("A-01", "B-01"),
        baseline=_run(A_01="passed", B_01="passed"),
        verdicts=verdicts,
        selected=len(verdicts),
    )


def test_reports_show_hostile_text_as_text() -> None:
    hostile = '<script>alert(1)</script> a | b "q"'
    mutant = Mutant(
        "m", hostile, ("A-01",), False, (Rewrite("reference_impl/a.py", "<b>old</b>", "<i>new</i>"),), None
    )
    run = RunResult(
        "m", 1.0, (CaseResult("A-01", "failed", None, hostile), CaseResult("B-01", "passed", None, None))
    )
    matrix = _matrix((Verdict(mutant, run),))
    page = to_html(matrix)
    assert "<script>" not in page and "<b>old</b>" not in page and "<i>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;b&gt;old&lt;/b&gt;" in page
    markdown = to_markdown(matrix)
    assert "a \\| b" in markdown  # a pipe would end the table cell
    document = to_json(matrix)
    assert document["mutants"][0]["cells"] == {"A-01": "killed-as-expected"}
    assert document["mutants"][0]["not_passed"][0]["detail"] == hostile
    assert json.loads(json.dumps(document)) == document
    assert "m  " in terminal_table(matrix) and "OK:" in terminal_table(matrix)


def test_a_failing_matrix_lists_its_problems_and_known_gaps_everywhere() -> None:
    survived = Verdict(_mutant(expect=("A-01",)), _run(A_01="passed", B_01="passed"))
    gap = Verdict(
        Mutant("g", "a gap", ("B-01",), False, (), "B-01 cannot see it"), _run(A_01="passed", B_01="passed")
    )
    matrix = _matrix((survived, gap))
    assert matrix.problems() == ["m survived: no case failed (expected A-01 to fail)"]
    for text in (to_markdown(matrix), to_html(matrix), terminal_table(matrix)):
        assert "m survived" in text and "B-01 cannot see it" in text
    assert to_json(matrix)["ok"] is False


# ---- the runner ------------------------------------------------------------------------------------------------


def test_selection_by_name_and_by_row() -> None:
    catalogue = load_catalogue()
    by_row = select(catalogue, [], ["AUTH-LOGIN-02"])
    assert by_row and all("AUTH-LOGIN-02" in mutant.expect for mutant in by_row)
    assert [m.name for m in select(catalogue, [by_row[0].name], [])] == [by_row[0].name]
    assert select(catalogue, [], []) == list(catalogue)
    with pytest.raises(CatalogueError, match="no mutant named nope"):
        select(catalogue, ["nope"], [])
    with pytest.raises(CatalogueError, match="no mutant expects NOPE-01"):
        select(catalogue, [], ["NOPE-01"])


def test_a_run_gets_no_setting_of_the_developers_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "CHECKLIST_TARGET": "external",
        "jwt_secret": "mine",
        "AUTH_BASE_URL": "http://x",
        "LOG_WAIT_SECONDS": "0",
        "ACCESS_TOKEN_TTL_SECONDS": "1",
        "PYTEST_ADDOPTS": "-x",
        "FAULT_DB_DOWN_CMD": "true",
        "PYTHONDONTWRITEBYTECODE": "1",
    }.items():
        monkeypatch.setenv(name, value)
    env = child_environment(
        Servers("postgresql://postgres@127.0.0.1:5/postgres", "redis://127.0.0.1:6/0"),
        "mutant_7",
        2,
        Path("/t"),
    )
    dropped = {
        "CHECKLIST_TARGET",
        "jwt_secret",
        "AUTH_BASE_URL",
        "LOG_WAIT_SECONDS",
        "ACCESS_TOKEN_TTL_SECONDS",
    }
    assert not dropped & set(env) and "PYTEST_ADDOPTS" not in env and "FAULT_DB_DOWN_CMD" not in env
    assert "PYTHONDONTWRITEBYTECODE" not in env
    assert env["DATABASE_URL"] == "postgresql://postgres@127.0.0.1:5/mutant_7"
    assert env["REDIS_URL"] == "redis://127.0.0.1:6/2"
    assert env["STACK_BACKEND"] == "external" and env["TMPDIR"] == "/t" and env["PATH"] == os.environ["PATH"]


def test_the_template_holds_what_a_run_needs_byte_compiled(tmp_path: Path) -> None:
    template = prepare_template(tmp_path / "template")
    assert sorted(path.name for path in template.iterdir()) == sorted({*TREE, "__pycache__"})
    assert list((template / "reference_impl" / "auth" / "__pycache__").glob("router.*.pyc"))
    assert not (template / "tests").exists() and not (template / ".git").exists()


def _command_line(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:  # gone, or not ours to read
        return ""


def test_ctrl_c_stops_the_matrix_and_leaves_nothing_behind(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Interrupted during a checklist run, as a terminal and then tox do (SIGINT, then SIGTERM during cleanup):
    every process it started stops, its temporary folders go, and the matrix says it was interrupted."""
    temp = Path(tempfile.mkdtemp(prefix="mt-"))  # short: PostgreSQL's socket path lives under it
    request.addfinalizer(lambda: shutil.rmtree(temp, ignore_errors=True))
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mutants",
            "--only",
            "equivalent-log-message-whitespace",
            "--reports-dir",
            str(tmp_path),
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env | {"TMPDIR": str(temp)},
        start_new_session=True,  # its own group, as a terminal's foreground job is
    )
    started: list[psutil.Process] = []
    try:

        def services_running() -> bool:
            started[:] = psutil.Process(run.pid).children(recursive=True)
            return any("reference_impl.stack.serve" in _command_line(p) for p in started)

        wait_until(services_running, timeout=120, what="a checklist run's services")
        assert any(p.name() == "postgres" for p in started) and list(temp.glob("mutants-*"))
        os.killpg(run.pid, signal.SIGINT)
        os.killpg(run.pid, signal.SIGTERM)
        output = run.communicate(timeout=90)[0]
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == 130, output[-3000:]
    wait_until(lambda: not any(p.is_running() for p in started), timeout=15, what="every process to stop")
    assert not list(temp.iterdir()), output[-3000:]
    document = json.loads(next(tmp_path.glob("*/matrix.json")).read_text(encoding="utf-8"))
    assert document["status"] == "interrupted" and document["ok"] is False
