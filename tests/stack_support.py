"""A throwaway PostgreSQL cluster for the real-stack tests, and the scenarios run against the CRM in
tests/fixtures/stack (in a child process each: Django is set up once per process).

The cluster lives in a temporary folder, listens on a Unix socket there only (no TCP port), and is
stopped and removed when the tests end. PostgreSQL refuses to run as root: as root, the server runs
as `nobody` (util-linux's setpriv), the folder made over to it.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

STACK = Path(__file__).parent / "fixtures" / "stack"
ROWS = Path(__file__).parent / "fixtures" / "stack_rows"  # the row-level project beside it
SCENARIOS = Path(__file__).parent / "stack_scenarios.py"
TEMPLATE_DB = "crm_template"
_NOBODY = 65534


def server_binaries() -> Path:
    """The folder holding initdb and pg_ctl: on the PATH, else Debian's /usr/lib/postgresql/N/bin."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(folder, "initdb")):
            return Path(folder)
    pytest.fail("the real-stack tests need PostgreSQL's server binaries (initdb, pg_ctl, postgres): "
                "install the `postgresql` package (.ci/run does so with apt)", pytrace=False)


class Cluster:
    """One PostgreSQL server in a temporary folder, reached through its socket folder."""

    def __init__(self):
        self.bin = server_binaries()
        self.folder = tempfile.mkdtemp(prefix="tenantlint-pg-")
        self.data = os.path.join(self.folder, "data")
        self.socket = os.path.join(self.folder, "socket")
        self.port = "5432"
        os.mkdir(self.socket)
        if os.geteuid() == 0:
            for path in (self.folder, self.socket):
                os.chown(path, _NOBODY, _NOBODY)
        self._run("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self._run("pg_ctl", "-D", self.data, "-l", os.path.join(self.folder, "server.log"), "-w", "start", "-o",
                  f"-k {self.socket} -c listen_addresses='' -p {self.port} -c fsync=off -c full_page_writes=off")

    def _run(self, program: str, *arguments: str) -> None:
        command = [str(self.bin / program), *arguments]
        if os.geteuid() == 0:
            command = ["setpriv", f"--reuid={_NOBODY}", f"--regid={_NOBODY}", "--clear-groups", *command]
        done = subprocess.run(command, capture_output=True, text=True, cwd=self.folder)
        if done.returncode:
            raise RuntimeError(f"{program} failed: {done.stdout}{done.stderr}")

    def environment(self, database: str) -> dict[str, str]:
        return {**os.environ, "CRM_DB_HOST": self.socket, "CRM_DB_PORT": self.port, "CRM_DB_NAME": database}

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def run_scenario(cluster: Cluster, project: Path, name: str, database: str, settings: str = "crm.settings") -> dict:
    """Run one scenario of stack_scenarios.py on `project` (a copy of the CRM) against `database`."""
    done = subprocess.run([sys.executable, str(SCENARIOS), str(project), name, settings], capture_output=True,
                          text=True, env=cluster.environment(database), timeout=300)
    if done.returncode:
        raise AssertionError(f"scenario {name} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])
