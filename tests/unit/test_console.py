"""The ``perfkit`` console script and the option set, without a database: the command table,
``--help``, one meaning per short flag, typed placeholders, and what starting a command imports
(in a fresh interpreter: ``sys.modules``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from invoke.collection import Collection

from perfkit.commands import BY_NAME, COMMANDS
from perfkit.config import load_config
from perfkit.console import build_parser, main
from perfkit.errors import BadFlagError, ConfigError
from perfkit.invoke_tasks import namespace
from perfkit.options import OPTIONS, read_value
from perfkit.run import Run
from perfkit.testing import clean_env, run_perfkit

ROOT = Path(__file__).resolve().parents[2]

#: What the issue's tasks were (``invoke --list`` before the command layer): each must stay.
TASKS = (
    "db-up", "db-down", "db-status", "db-url", "snapshot", "restore", "snapshots", "prune",
    "verify", "trust", "prepare", "bench-restore", "seed", "bench-seed", "report", "compare",
    "explain", "ab",
)  # fmt: skip
#: The commands with ``--json`` the issue asks for (at least).
JSON = ("db-status", "snapshots", "verify", "compare", "explain", "seed", "restore")
#: What ``perfkit --help`` must not import.
NOT_FOR_HELP = ("sqlalchemy", "asyncpg", "rich", "invoke", "numpy", "scipy", "pydantic")


def fresh_modules(
    code: str, *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> set[str]:
    """The modules a fresh interpreter holds after running ``code`` (its stdout silenced)."""
    probe = (
        "import contextlib, io, json, sys\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        + "".join(f"    {line}\n" for line in code.splitlines())
        + "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True,
        env=clean_env(env), cwd=cwd,
    )  # fmt: skip
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    """Which of ``names`` (a package or any module under it) are in ``modules``."""
    return [n for n in names if any(m == n or m.startswith(n + ".") for m in modules)]


# -- the table -------------------------------------------------------------------------------


def test_every_task_is_a_command_and_the_invoke_namespace_matches() -> None:
    assert set(TASKS) <= set(BY_NAME)
    ns = namespace()
    assert isinstance(ns, Collection) and set(ns.task_names) == set(BY_NAME)
    for command in COMMANDS:
        task = ns[command.name]
        flags = {tuple(sorted(a.names)) for a in task.get_arguments()}
        expected = {
            tuple(sorted(n for n in (o.flag.removeprefix("--"), (o.short or "-").lstrip("-")) if n))
            for o in command.options
        }
        assert flags == expected, command.name


def test_one_short_flag_one_meaning_and_every_option_from_the_one_set() -> None:
    meanings: dict[str, str] = {}
    for command in COMMANDS:
        for option in command.options:
            one = OPTIONS[option.name]  # defined once: flags, kind and type never differ
            assert (option.flag, option.short, option.kind, option.placeholder) == (
                one.flag, one.short, one.kind, one.placeholder,
            ), (command.name, option.name)  # fmt: skip
            if option.short:
                assert meanings.setdefault(option.short, option.name) == option.name
    assert meanings["-c"] == "config" and OPTIONS["confirm_database"].short is None


def test_the_issue_s_commands_take_json() -> None:
    for name in JSON:
        assert BY_NAME[name].takes_json, name


def test_the_listing_commands_never_load_the_application() -> None:
    for name in ("snapshots", "verify", "prune", "db-status", "report", "compare"):
        assert BY_NAME[name].needs in ("config", "db"), name


# -- --help ----------------------------------------------------------------------------------


def test_perfkit_help_lists_every_command_one_line_each(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        line = next(line for line in out.splitlines() if line.strip().startswith(command.name))
        assert command.summary in line or command.summary in out, command.name


@pytest.mark.parametrize(
    "argv", [["nosuch"], ["--nosuch"], ["--nosuch", "db-status"], ["restore", "--nosuch", "x"]]
)
def test_an_unknown_command_or_flag_is_one_line_naming_what_exists(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The parser is built for the named command only; an unknown one still lists them all."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("perfkit: ")
    if argv == ["nosuch"]:
        assert all(repr(c.name) in err for c in COMMANDS)


@pytest.mark.parametrize("name", [c.name for c in COMMANDS])
def test_every_command_s_help_explains_every_flag_with_its_type(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for flag in ("--help", "-h"):
        assert main([name, flag]) == 0
        out, err = capsys.readouterr()
        assert err == ""
        assert BY_NAME[name].summary in out.replace("\n", " ")
        for option in BY_NAME[name].options:
            assert option.flag in out
            if option.takes_value:
                assert option.placeholder in out and option.placeholder != "STRING"
        assert "STRING" not in out


def test_a_missing_required_flag_and_an_unknown_one_are_one_line_exit_2() -> None:
    done = run_perfkit("restore")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().startswith("perfkit: ") and len(done.stderr.splitlines()) == 1
    assert "--scale" in done.stderr and "perfkit restore --help" in done.stderr
    unknown = run_perfkit("db-status", "--colour", "red")
    assert unknown.returncode == 2 and len(unknown.stderr.splitlines()) == 1
    assert "--colour" in unknown.stderr and "perfkit db-status --help" in unknown.stderr
    nothing = run_perfkit("frobnicate")
    assert nothing.returncode == 2 and "frobnicate" in nothing.stderr


@pytest.mark.parametrize(
    ("name", "text", "flag"),
    [("top", "abc", "--top"), ("as_of", "soon", "--as-of"), ("method", "quick", "--method"),
     ("port", "99999", "--port"), ("keep", "0", "--keep"), ("threshold", "lots", "threshold")],
)  # fmt: skip
def test_a_bad_value_is_refused_naming_its_flag(name: str, text: str, flag: str) -> None:
    with pytest.raises(Exception) as info:
        read_value(OPTIONS[name], text)
    assert isinstance(info.value, BadFlagError | Exception)
    assert getattr(info.value, "exit_code", None) == 2
    assert flag in str(info.value)


# -- what starting a command imports ---------------------------------------------------------


def test_perfkit_help_imports_nothing_heavy() -> None:
    modules = fresh_modules("from perfkit.console import main\nmain(['--help'])")
    assert loaded(modules, (*NOT_FOR_HELP, "perfkit.app", "perfkit.apps")) == []


def test_db_status_of_a_stopped_server_imports_no_driver_and_no_sqlalchemy(tmp_path: Path) -> None:
    env = {"PERFKIT_STATE_DIR": str(tmp_path / "state"), "PERFKIT_BACKEND": "native"}
    modules = fresh_modules(
        "from perfkit.console import main\nassert main(['db-status']) == 0", env=env
    )
    banned = ("sqlalchemy", "asyncpg", "numpy", "scipy", "rich", "invoke", "pydantic")
    assert loaded(modules, (*banned, "perfkit.apps", "perfkit.app")) == []


#: What a restore from the template or a spare never imports (perfkit.schema_record).
NOT_FOR_A_RESTORE = (
    *(m for m in NOT_FOR_HELP if m != "asyncpg"), "faker", "pglast", "perfkit.apps",
    "perfkit.schema",
)  # fmt: skip


def test_a_restore_from_the_template_imports_neither_the_models_nor_sqlalchemy(
    tmp_path: Path,
) -> None:
    """Once a command imported the models (and their fingerprint is known), ``perfkit
    restore``'s modules and its choice of route (the models on record) import neither the
    application nor SQLAlchemy, Faker or pglast."""
    env = {"PERFKIT_STATE_DIR": str(tmp_path / "state"), "PERFKIT_BACKEND": "native"}
    fresh_modules(
        "from perfkit.config import load_config\n"
        "from perfkit.loading import _models_schema\n"
        "from perfkit.schema_record import MEMO_FILE, write_json\n"
        "cfg = load_config(None)\n"
        "schema = _models_schema(cfg, warn=print)\n"
        "write_json(cfg.state_dir / MEMO_FILE, {schema.digest: '0123456789abcdef'})",
        env=env,
    )
    modules = fresh_modules(
        "from perfkit.config import load_config\n"
        "from perfkit.run import Run\n"
        "import perfkit.commands.snapshots, perfkit.console, perfkit.snapshot\n"
        "from perfkit.snapshot.restore import models_on_record\n"
        "found = models_on_record(Run(load_config(None)))\n"
        "assert found is not None and found.fingerprint == '0123456789abcdef', found\n"
        "assert found.tables[0] == 'offices' and found.all_tables[-1] == 'perfkit_dataset'",
        env=env,
    )
    assert "perfkit.snapshot.restore" in modules
    assert loaded(modules, NOT_FOR_A_RESTORE) == []


@pytest.mark.parametrize("module", ["perfkit.app", "perfkit.datagen.recipe", "perfkit.workload"])
def test_what_an_application_imports_loads_no_driver_and_no_sqlalchemy(module: str) -> None:
    modules = fresh_modules(f"import {module}")
    assert loaded(modules, ("sqlalchemy", "asyncpg", "psycopg")) == []


# -- output ------------------------------------------------------------------------------------


def test_db_status_prints_its_table_on_stdout_and_json_too(tmp_path: Path) -> None:
    env = {"PERFKIT_STATE_DIR": str(tmp_path / "state"), "PERFKIT_BACKEND": "native"}
    done = run_perfkit("db-status", env=env)
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.splitlines()[0] == "dedicated database" and "stopped" in done.stdout
    report = json.loads(run_perfkit("db-status", "--json", env=env).stdout)
    assert report["running"] is False and report["backend"] == "native"
    assert set(report) == {"backend", "running", "started", "url", "version", "data_bytes",
                           "details"}  # fmt: skip


def test_the_parser_is_built_from_the_table() -> None:
    parser = build_parser()
    ns = parser.parse_args(["restore", "-s", "small", "-a", "2030-01-01", "-m", "file", "-j"])
    assert (ns.command, ns.scale, ns.as_of, ns.method, ns.json) == (
        "restore", "small", "2030-01-01", "file", True,
    )  # fmt: skip


# -- the process itself: the installed script, exit statuses, stdout and stderr apart ------------


def installed_script() -> Path:
    """The ``perfkit`` console script of the environment running the tests."""
    script = Path(sys.executable).parent / "perfkit"
    assert script.is_file(), f"{script}: perfkit is not installed here (pip install -e .)"
    return script


def test_the_installed_script_fills_a_redirected_file_and_says_nothing_else(
    tmp_path: Path,
) -> None:
    env = clean_env({"PERFKIT_STATE_DIR": str(tmp_path / "state"), "PERFKIT_BACKEND": "native"})
    out = tmp_path / "status.txt"
    with out.open("w", encoding="utf-8") as f:  # perfkit db-status > status.txt
        done = subprocess.run(
            [str(installed_script()), "db-status"], stdout=f, stderr=subprocess.PIPE,
            text=True, env=env, cwd=ROOT, check=False,
        )  # fmt: skip
    assert done.returncode == 0 and done.stderr == ""
    text = out.read_text(encoding="utf-8")
    assert text.startswith("dedicated database\n") and "stopped" in text
    same = subprocess.run(
        [sys.executable, "-m", "perfkit", "db-status"], capture_output=True, text=True,
        env=env, cwd=ROOT, check=False,
    )  # fmt: skip
    assert same.stdout == text  # python -m perfkit is the same command


def test_a_bad_flag_in_a_real_process_is_one_line_on_stderr_and_exit_2() -> None:
    done = subprocess.run(
        [str(installed_script()), "db-status", "--port", "lots"], capture_output=True,
        text=True, env=clean_env(), cwd=ROOT, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "perfkit: command line: --port: expected a whole number from 1 to 65,535, got 'lots'"
    ]


def test_the_invoke_namespace_runs_the_same_commands(tmp_path: Path) -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "invoke", "--search-root", str(ROOT), "--list"],
        capture_output=True, text=True, env=clean_env(), cwd=ROOT, check=True,
    )  # fmt: skip
    for command in COMMANDS:
        assert command.name in listed.stdout
    env = clean_env({"PERFKIT_STATE_DIR": str(tmp_path / "state"), "PERFKIT_BACKEND": "native"})
    status = subprocess.run(
        [sys.executable, "-m", "invoke", "--search-root", str(ROOT), "db-status"],
        capture_output=True, text=True, env=env, cwd=ROOT, check=False,
    )  # fmt: skip
    assert status.returncode == 0 and status.stdout.startswith("dedicated database\n")
    bad = subprocess.run(
        [sys.executable, "-m", "invoke", "--search-root", str(ROOT), "explain", "-s", "small",
         "--top", "abc"],
        capture_output=True, text=True, env=env, cwd=ROOT, check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.splitlines() == [
        "perfkit: command line: --top: expected a whole number from 1 up, got 'abc'"
    ]


def test_docs_commands_md_names_every_command_and_flag() -> None:
    page = (ROOT / "docs" / "commands.md").read_text(encoding="utf-8")
    for command in COMMANDS:
        start = page.index(f"### `perfkit {command.name}`")
        section = page[start : page.find("\n### ", start + 1)]
        for option in command.options:
            assert option.flag in section or option.flag in page, (command.name, option.flag)
            if option.name not in ("config", "json", "backend", "port"):
                assert f"`{option.flag}`" in section, (command.name, option.flag)
        if command.takes_json:
            assert "`--json`:" in section, command.name


def test_listing_and_verifying_never_import_the_application(tmp_path: Path) -> None:
    """With a SQL schema source, ``perfkit snapshots``, ``verify`` and ``prune --dry-run``
    import nothing of the application: its recipe module, which fails at import, is never
    touched (they used to import it, and so fail with it)."""
    (tmp_path / "boom.py").write_text("raise RuntimeError('imported the application')\n")
    (tmp_path / "schema.sql").write_text("CREATE TABLE t (id integer PRIMARY KEY);\n")
    (tmp_path / "scales.yaml").write_text(
        "scales:\n  small: {offices: 1}\n"
        f"app:\n  import_root: {tmp_path}\n  schema: {{sql: schema.sql}}\n"
        "  recipe: 'boom:RECIPE'\n  workloads: {nightly: {call: 'boom:run'}}\n"
        "  default_workload: nightly\n",
        encoding="utf-8",
    )
    env = {
        "PERFKIT_CONFIG": str(tmp_path / "scales.yaml"),
        "PERFKIT_STATE_DIR": str(tmp_path / "state"),
        "PERFKIT_BACKEND": "native",
    }
    for args in (("snapshots",), ("verify",), ("snapshots", "--json")):
        done = run_perfkit(*args, env=env)
        assert done.returncode == 0, done.stderr
        assert "no snapshots" in done.stdout or json.loads(done.stdout)["snapshots"] == []
    # the recipe really cannot be imported: asked for, it fails, naming why
    cfg = load_config(tmp_path / "scales.yaml", env={"PERFKIT_STATE_DIR": str(tmp_path / "s")})
    record = Run(cfg).on_record
    assert record.schema is None  # not built yet: nothing to compare with, nothing built
    with pytest.raises(ConfigError) as info:
        _ = record.recipe
    assert info.value.key_path == "app.recipe" and "imported the application" in str(info.value)


# -- how the console script ends ---------------------------------------------------------------

#: Ends with :func:`perfkit.exits.leave`: an exit handler writes a file, stdout is left unflushed,
#: an object's finaliser would print at a normal tear-down.
LEAVING = """
import atexit, pathlib, sys
atexit.register(lambda: pathlib.Path(sys.argv[1]).write_text("handlers ran"))
class Loud:
    def __del__(self):
        print("torn down", flush=True)
keep = Loud()
sys.stdout.write("report")
{before}
from perfkit.exits import leave
leave(5)
"""


@pytest.mark.parametrize(
    ("before", "torn_down"),
    [
        ("", False),
        ("import threading; threading.Thread(target=lambda: None, daemon=False).start()", False),
        ("import foreign_module", True),
    ],
    ids=["installed-code-only", "finished-thread", "foreign-module"],
)
def test_the_console_script_ends_at_once_only_when_only_installed_code_ran(
    tmp_path: Path, before: str, torn_down: bool
) -> None:
    """The exit status, the exit handlers and the unflushed output survive the quick end; a
    process that imported a module of the project's own folders tears down as Python does."""
    (tmp_path / "foreign_module.py").write_text("x = 1\n")
    marker = tmp_path / "marker"
    done = subprocess.run(
        [sys.executable, "-c", LEAVING.format(before=before), str(marker)],
        capture_output=True, text=True, env=clean_env({"PYTHONPATH": str(tmp_path)}),
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 5, done.stderr
    assert marker.read_text() == "handlers ran"
    assert done.stdout.startswith("report")
    assert ("torn down" in done.stdout) is torn_down


def test_a_thread_python_would_wait_for_is_waited_for(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    waiting = (
        "import threading, time, pathlib\n"
        "def late():\n    time.sleep(0.3)\n"
        f"    pathlib.Path(r'{marker}').with_suffix('.late').touch()\n"
        "threading.Thread(target=late).start()"
    )
    done = subprocess.run(
        [sys.executable, "-c", LEAVING.format(before=waiting), str(marker)],
        capture_output=True, text=True, env=clean_env(), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 5, done.stderr
    assert marker.with_suffix(".late").exists()
