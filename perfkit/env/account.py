"""Run PostgreSQL as an unprivileged account when perfkit itself runs as root.

PostgreSQL refuses to run as root. As root, perfkit creates (once) a dedicated system
account -- system user and group, no home, no login shell -- and runs ``initdb`` and
``pg_ctl`` as that account with every privilege dropped: user, group, no supplementary
groups, umask 077. As any other user, the server simply runs as that user.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from perfkit.errors import CommandFailed, DatabaseEnvError


@dataclass(frozen=True)
class Account:
    """Who the server runs as. ``dropped`` is true when perfkit (root) switches to it."""

    name: str
    uid: int
    gid: int
    dropped: bool

    def can_reach(self, path: Path, *, need_write: bool = False) -> bool:
        """Whether this account can enter ``path`` (and every folder above it).

        Judged from the mode bits, as the kernel would for this uid and gid, without ever
        changing a permission.
        """
        path = path.resolve()
        chain = [*reversed(path.parents), path]
        for i, p in enumerate(chain):
            try:
                st = p.stat()
            except OSError:
                return False
            last = i == len(chain) - 1
            want = stat.S_IXUSR | (stat.S_IWUSR if (last and need_write) else 0)
            if self.uid == 0:
                continue
            if st.st_uid == self.uid:
                bits = want
            elif st.st_gid == self.gid:
                bits = want >> 3
            else:
                bits = want >> 6
            if st.st_mode & bits != bits:
                return False
        return True


def server_account(name: str) -> Account:
    """The account the server runs as: ``name`` (created if missing) as root, else ourselves."""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid())
        return Account(name=me.pw_name, uid=me.pw_uid, gid=os.getegid(), dropped=False)
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        _create_system_account(name)
        entry = pwd.getpwnam(name)
    if entry.pw_uid == 0:
        raise DatabaseEnvError(
            f"server account {name!r} has uid 0; PostgreSQL cannot run as root",
            hint="set database.server_account (or PERFKIT_SERVER_ACCOUNT) to another name",
        )
    return Account(name=name, uid=entry.pw_uid, gid=entry.pw_gid, dropped=True)


def _create_system_account(name: str) -> None:
    nologin = next(
        (s for s in ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false") if Path(s).exists()),
        "/bin/false",
    )
    useradd = shutil.which("useradd")
    if useradd is None:
        raise DatabaseEnvError(
            f"cannot create the system account {name!r}: `useradd` not found",
            hint=f"create an unprivileged system user {name!r} yourself, or run perfkit as a "
            "normal user",
        )
    argv = [
        useradd, "--system", "--user-group", "--no-create-home",
        "--home-dir", "/nonexistent", "--shell", nologin,
        "--comment", "perfkit PostgreSQL server", name,
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        try:  # another perfkit process may have created it a moment ago
            pwd.getpwnam(name)
        except KeyError:
            raise CommandFailed(argv, done.returncode, done.stderr) from None


def group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def run_as(
    account: Account,
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 120.0,
    check: bool = True,
    hint: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` as ``account`` with privileges fully dropped; capture its output.

    ``env`` is the whole environment (nothing is inherited but ``PATH``): passwords never go
    through argv.
    """
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C"}
    full_env.update(env or {})
    drop = account.dropped
    try:
        done = subprocess.run(
            list(argv),
            cwd=cwd,
            env=full_env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            user=account.uid if drop else None,
            group=account.gid if drop else None,
            extra_groups=[] if drop else None,
            umask=0o077 if drop else -1,
        )
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        raise CommandFailed(argv, -1, f"timed out after {timeout:g} s {out!s}", hint=hint) from None
    if check and done.returncode != 0:
        raise CommandFailed(argv, done.returncode, done.stdout + done.stderr, hint=hint)
    return done
