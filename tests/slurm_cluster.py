"""A throw-away single-node SLURM cluster on localhost, for the profile test.

It runs Debian's ``slurm-wlm`` and ``munge`` without an accounting daemon. Everything it writes (slurm.conf,
state, spool, pid and log files, the munge socket) lives under one temporary directory; the clients find it
through ``SLURM_CONF``. The three daemons run in the foreground as children of this process, so stopping the
cluster ends exactly the processes it started, by PID.

    reason = ensure_installed()        # None, or why the daemons cannot be installed
    with SlurmCluster() as cluster:    # munged, slurmctld -i, slurmd; waits until the node is idle
        subprocess.run([...], env=cluster.env)
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "sinfo", "scontrol", "scancel", "srun")
PACKAGES = ("slurm-wlm", "munge")
MUNGE_KEY = Path("/etc/munge/munge.key")
_SBIN = ("/usr/sbin", "/sbin", "/usr/local/sbin")


def _which(name: str) -> str | None:
    """Path of a program, also looking in the sbin folders that a non-login PATH may lack."""
    path = os.environ.get("PATH", "") + os.pathsep + os.pathsep.join(_SBIN)
    return shutil.which(name, path=path)


def _missing() -> list[str]:
    return [name for name in (*DAEMONS, *CLIENTS) if _which(name) is None]


def ensure_installed(timeout: int = 600) -> str | None:
    """Install ``slurm-wlm`` and ``munge`` with apt-get when a program is missing.

    Returns None when every daemon and client is present, otherwise the reason it could not be installed
    (not root, no apt-get, or apt-get's error).
    """
    if not _missing():
        return None
    if os.geteuid() != 0:
        return f"slurm-wlm/munge missing ({', '.join(_missing())}) and not root, so apt-get cannot install them"
    if shutil.which("apt-get") is None:
        return f"slurm-wlm/munge missing ({', '.join(_missing())}) and there is no apt-get"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
    proc = subprocess.run(install, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:  # stale or absent package lists: refresh once and retry
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, text=True, timeout=timeout)
        proc = subprocess.run(install, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0 or _missing():
        tail = (proc.stdout + proc.stderr).strip()[-1500:]
        return f"apt-get install {' '.join(PACKAGES)} failed (exit {proc.returncode}): {tail}"
    return None


def _ensure_munge_key() -> None:
    """Create /etc/munge/munge.key (owned by munge, mode 0400) when it is missing."""
    if MUNGE_KEY.exists():
        return
    MUNGE_KEY.parent.mkdir(parents=True, exist_ok=True)
    mungekey = _which("mungekey")
    if mungekey:
        subprocess.run([mungekey, "--create", f"--keyfile={MUNGE_KEY}"], check=True, capture_output=True)
    else:
        MUNGE_KEY.write_bytes(os.urandom(1024))
    munge = pwd.getpwnam("munge")
    os.chown(MUNGE_KEY.parent, munge.pw_uid, munge.pw_gid)
    os.chown(MUNGE_KEY, munge.pw_uid, munge.pw_gid)
    os.chmod(MUNGE_KEY, 0o400)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _total_memory_mb() -> int:
    """MemTotal from /proc/meminfo (the 'total' column of free), in MiB."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError("/proc/meminfo has no MemTotal line")


class SlurmCluster:
    """One controller and one compute node on localhost, configured under a fresh temporary directory.

    Attributes: ``root`` (the temporary directory), ``conf`` (its slurm.conf), ``env`` (os.environ plus
    ``SLURM_CONF``), ``node`` (the short hostname), ``cpus`` and ``memory_mb`` (what the node offers).
    """

    def __init__(self, min_job_age: int = 300, startup_timeout: float = 60.0) -> None:
        self.min_job_age = min_job_age
        self.startup_timeout = startup_timeout
        self.node = socket.gethostname().split(".")[0]
        self.cpus = os.cpu_count() or 1
        if hasattr(os, "sched_getaffinity"):
            self.cpus = len(os.sched_getaffinity(0))
        # RealMemory: the machine's memory less 1 GiB for the OS and the daemons, as slurmd -C would report it
        # less a reserve. Not what is free right now: that moves with other processes, and a rule whose
        # mem_mb exceeds RealMemory is refused at sbatch time. Nothing enforces it (no cgroups, no jobacct).
        self.memory_mb = max(1024, _total_memory_mb() - 1024)
        self.root = Path(tempfile.mkdtemp(prefix="fds-slurm-"))
        self.conf = self.root / "slurm.conf"
        # The job step plugin (snakemake-executor-plugin-slurm-jobstep 0.6.1) drops every SLURM_* variable,
        # SLURM_CONF too, before it calls srun inside the job. Real sites keep slurm.conf where srun looks by
        # default (/etc/slurm) or run configless; here a tiny srun in front of the real one on PATH points it
        # at this cluster's slurm.conf instead.
        self.bin = self.root / "bin"
        path = os.pathsep.join([str(self.bin), os.environ.get("PATH", ""), *_SBIN])
        self.env = {**os.environ, "SLURM_CONF": str(self.conf), "PATH": path}
        self.procs: dict[str, subprocess.Popen] = {}

    # -- configuration -------------------------------------------------------------------------------
    def _write_conf(self) -> None:
        r = self.root
        munge = pwd.getpwnam("munge")
        self.root.chmod(0o755)  # munged (user munge) must reach its socket folder
        mdir = r / "munge"
        mdir.mkdir(mode=0o755)
        os.chown(mdir, munge.pw_uid, munge.pw_gid)
        for sub in ("state", "spool"):
            (r / sub).mkdir()
        self.munge_socket = mdir / "munge.socket"
        lines = {
            "ClusterName": "fdsci",
            "SlurmctldHost": f"{self.node}(127.0.0.1)",
            "SlurmctldPort": _free_port(),
            "SlurmdPort": _free_port(),
            "SlurmUser": "root",
            "SlurmdUser": "root",
            "AuthType": "auth/munge",
            "CredType": "cred/munge",
            "AuthInfo": f"socket={self.munge_socket}",
            "MpiDefault": "none",
            "ProctrackType": "proctrack/linuxproc",
            "TaskPlugin": "task/none",
            "SelectType": "select/cons_tres",
            "SelectTypeParameters": "CR_Core_Memory",
            "AccountingStorageType": "accounting_storage/none",
            "JobAcctGatherType": "jobacct_gather/none",
            "JobCompType": "jobcomp/none",
            "SlurmdParameters": "config_overrides",
            "ReturnToService": 2,
            "MinJobAge": self.min_job_age,
            "InactiveLimit": 0,
            "KillWait": 5,
            "MailProg": "/bin/true",
            "StateSaveLocation": r / "state",
            "SlurmdSpoolDir": r / "spool",
            "SlurmctldPidFile": r / "slurmctld.pid",
            "SlurmdPidFile": r / "slurmd.pid",
            "SlurmctldLogFile": r / "slurmctld.log",
            "SlurmdLogFile": r / "slurmd.log",
            "SlurmctldDebug": "info",
            "SlurmdDebug": "info",
        }
        text = "".join(f"{key}={value}\n" for key, value in lines.items())
        text += (
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.memory_mb} State=UNKNOWN\n"
            f"PartitionName=debug Nodes={self.node} Default=YES MaxTime=INFINITE State=UP\n"
        )
        self.conf.write_text(text)
        self.bin.mkdir()
        srun = self.bin / "srun"
        srun.write_text(f'#!/bin/sh\nSLURM_CONF="{self.conf}" exec "{_which("srun")}" "$@"\n')
        srun.chmod(0o755)

    # -- processes -----------------------------------------------------------------------------------
    def _spawn(self, name: str, argv: list[str], **kwargs) -> None:
        out = open(self.root / f"{name}.out", "wb")
        self.procs[name] = subprocess.Popen(
            argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **kwargs
        )
        out.close()

    def _wait_for(self, what: str, check, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode} while waiting for {what}\n{self.logs()}")
            if check():
                return
            time.sleep(0.5)
        raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}\n{self.logs()}")

    def run(self, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess:
        """Run a SLURM client command against this cluster."""
        return subprocess.run(list(argv), env=self.env, capture_output=True, text=True, timeout=timeout)

    def _munge_works(self) -> bool:
        munge, unmunge = _which("munge"), _which("unmunge")
        enc = subprocess.run([munge, "-n", "-S", str(self.munge_socket)], capture_output=True, timeout=10)
        if enc.returncode != 0:
            return False
        dec = subprocess.run([unmunge, "-S", str(self.munge_socket)], input=enc.stdout, capture_output=True, timeout=10)
        return dec.returncode == 0

    def _node_state(self) -> str:
        proc = self.run("sinfo", "-h", "-N", "-n", self.node, "-o", "%T")
        return proc.stdout.strip() if proc.returncode == 0 else ""

    def start(self) -> "SlurmCluster":
        """Write slurm.conf, start munged (as munge), ``slurmctld -i`` and ``slurmd``; wait for an idle node."""
        try:
            _ensure_munge_key()
            self._write_conf()
            munge = pwd.getpwnam("munge")
            m = self.root / "munge"
            self._spawn(
                "munged",
                [
                    _which("munged"),
                    "-F",
                    f"--socket={self.munge_socket}",
                    f"--key-file={MUNGE_KEY}",
                    f"--pid-file={m / 'munged.pid'}",
                    f"--log-file={m / 'munged.log'}",
                    f"--seed-file={m / 'munged.seed'}",
                ],
                user=munge.pw_uid,
                group=munge.pw_gid,
                extra_groups=[],
            )
            self._wait_for("munged to answer", self._munge_works, self.startup_timeout)
            self._spawn("slurmctld", [_which("slurmctld"), "-D", "-i"])
            self._wait_for(
                "slurmctld to answer", lambda: self.run("scontrol", "ping").returncode == 0, self.startup_timeout
            )
            self._spawn("slurmd", [_which("slurmd"), "-D"])
            self._wait_for(
                f"node {self.node} to become idle", lambda: self._node_state() == "idle", self.startup_timeout
            )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Cancel this cluster's jobs, then end the daemons this object started (by PID), newest first."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            user = pwd.getpwuid(os.geteuid()).pw_name
            try:
                self.run("scancel", f"--user={user}")
                deadline = time.monotonic() + 30  # let slurmstepd end the jobs before slurmd goes
                while (
                    time.monotonic() < deadline and self.run("squeue", "-h", "-t", "RUNNING,COMPLETING").stdout.strip()
                ):
                    time.sleep(0.5)
            except subprocess.TimeoutExpired:
                pass
        for name in reversed(list(self.procs)):
            proc = self.procs[name]
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
        self.procs.clear()

    def cleanup(self) -> None:
        """Remove the temporary directory (call after stop)."""
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "SlurmCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        self.cleanup()

    # -- diagnostics ---------------------------------------------------------------------------------
    def logs(self, tail: int = 4000) -> str:
        """The last ``tail`` characters of each daemon's log (its console output where it wrote no log file)."""
        parts = []
        for name in ("munged", "slurmctld", "slurmd"):
            log, console = self.root / f"{name}.log", self.root / f"{name}.out"
            path = log if log.exists() and log.stat().st_size else console
            if path.exists():
                text = path.read_text(errors="replace")
                parts.append(f"===== {path.name} (last {tail} chars) =====\n{text[-tail:]}")
        return "\n".join(parts)
