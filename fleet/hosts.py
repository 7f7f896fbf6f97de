"""Bring simulated school servers up and down: one network namespace, one sshd, one private
mount/UTS namespace, one PostgreSQL cluster and one MongoDB wire server per school.

Test-only tooling. Nothing in the product (library/, roles/, the playbooks) imports it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

BRIDGE = "clixbr0"
SUBNET_PREFIX = "10.231.0"
BRIDGE_ADDR = f"{SUBNET_PREFIX}.1"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_PORT = 8432
MONGO_PORT = 8017
# Folders each school server sees as its own: the real root's, with the host's folder of that
# name (below <host dir>/root) bind-mounted over them.
PRIVATE_MOUNTS = {"/home/core": "home/core", "/opt": "opt", "/var/run/postgresql": "pgsock"}
# A lab PC's: /opt (/opt/clix) and the whole of /home (/home/student/...), so that nothing is made
# on the control node's own root for it.
LAB_PC_MOUNTS = {"/opt": "opt", "/home": "home"}
# A school's root shell starts with Debian's stock dotfiles, not the control node's: whatever this
# machine's ~/.bashrc runs (pyenv, ...) would otherwise run in every SSH session to every school.
ROOT_DOTFILES = {"/root/.bashrc": "/usr/share/base-files/dot.bashrc", "/root/.profile": "/usr/share/base-files/dot.profile"}


@dataclass
class School:
    state: str
    server_id: str
    school_code: str
    school_name: str
    index: int
    unplatform: bool = False
    big: bool = False
    first_address: int = 11
    tag: str = ""  # lets several fleets share the machine: netns clix<tag>-<id>, veth cx<tag>-<id>
    gstudio_container: bool = False  # runs the stand-in "gstudio" container under podman
    hostile: bool = False  # its data attacks the control node (fleet/hostile.py)
    # A lab PC of school server_id (sshd and unplatform installs, no server processes), not its server.
    pc: str = ""
    installs: tuple[str, ...] = ()  # a lab PC's installs: fleet/__main__.py LAB_PC_INSTALLS

    @property
    def name(self) -> str:
        """The host's own name in the fleet: the server id, or <server id>-<pc> for a lab PC."""
        return f"{self.server_id}-{self.pc}" if self.pc else self.server_id

    @property
    def hostname(self) -> str:
        return f"{self.school_code}-{self.name}"

    @property
    def netns(self) -> str:
        return f"clix{self.tag}-{self.name}"

    @property
    def veth(self) -> str:
        return f"cx{self.tag}-{self.name}"[:15]

    @property
    def address(self) -> str:
        return f"{SUBNET_PREFIX}.{self.first_address - 1 + self.index}"


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("check", True)
    try:
        return subprocess.run(cmd, **kwargs)
    except subprocess.CalledProcessError as exc:
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr
        raise RuntimeError(f"command failed ({exc.returncode}): {' '.join(cmd)}\n{err or ''}") from exc


def quiet(cmd: list[str]) -> None:
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


class Lab:
    """The folder that holds the fleet's state: keys, per-host folders, pids, inventory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def key(self) -> Path:
        return self.root / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts"

    @property
    def inventory(self) -> Path:
        return self.root / "inventory"

    @property
    def state_file(self) -> Path:
        return self.root / "fleet.json"

    def host_dir(self, school: School) -> Path:
        return self.root / "hosts" / school.name

    def schools(self) -> list[School]:
        """The school servers."""
        return self._hosts("schools")

    def lab_pcs(self) -> list[School]:
        return self._hosts("lab_pcs")

    def _hosts(self, kind: str) -> list[School]:
        if not self.state_file.exists():
            return []
        return [School(**{**s, "installs": tuple(s.get("installs", ()))})
                for s in json.loads(self.state_file.read_text()).get(kind, [])]

    def save(self, schools: list[School], lab_pcs: list[School] = ()) -> None:
        self.state_file.write_text(json.dumps({"schools": [asdict(s) for s in schools],
                                               "lab_pcs": [asdict(s) for s in lab_pcs]}, indent=1))


def ensure_network() -> None:
    if subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True).returncode == 0:
        return
    run(["ip", "link", "add", BRIDGE, "type", "bridge"])
    run(["ip", "addr", "add", f"{BRIDGE_ADDR}/24", "dev", BRIDGE])
    run(["ip", "link", "set", BRIDGE, "up"])


def ensure_client_key(lab: Lab) -> None:
    lab.root.mkdir(parents=True, exist_ok=True)
    lab.root.chmod(0o711)  # postgres must reach its data dirs below
    if not lab.key.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "clix-fleet", "-f", str(lab.key)])
    shutil.copy(lab.key.with_suffix(".pub"), lab.root / "authorized_keys")


def write_sshd_config(lab: Lab, school: School, d: Path) -> Path:
    host_key = d / "ssh_host_ed25519_key"
    if not host_key.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", school.hostname, "-f", str(host_key)])
    cfg = d / "sshd_config"
    cfg.write_text(
        f"ListenAddress {school.address}\n"
        f"HostKey {host_key}\n"
        f"PidFile {d / 'sshd.pid'}\n"
        "PermitRootLogin prohibit-password\n"
        f"AuthorizedKeysFile {lab.root / 'authorized_keys'}\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "StrictModes no\n"
        "UsePAM no\n"
        "MaxSessions 50\n"
        "MaxStartups 100:30:200\n"
        "Subsystem sftp internal-sftp\n"
        # The school's own podman state (its containers only), as `docker` is on a real server.
        f"SetEnv {' '.join(f'{k}={v}' for k, v in podman_env(d).items())}\n"
    )
    return cfg


CGROUP_V1 = ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids")


def cgroup_mounts() -> str:
    """Shell that mounts the host's cgroup hierarchies again under the namespace's /sys."""
    if Path("/sys/fs/cgroup/cgroup.controllers").exists():
        return " mount -t cgroup2 cgroup2 /sys/fs/cgroup;"
    present = [c for c in CGROUP_V1 if Path(f"/sys/fs/cgroup/{c}").is_dir()]
    return (" mount -t tmpfs cgroup /sys/fs/cgroup;"
            f" for c in {' '.join(present)}; do mkdir -p /sys/fs/cgroup/$c;"
            " mount -t cgroup -o $c cgroup /sys/fs/cgroup/$c; done;"
            " mkdir -p /sys/fs/cgroup/systemd; mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd;")


# A checkout testing its own clix_derive builds a stand-in of its own (CLIX_TEST_STANDIN_IMAGE).
STANDIN_IMAGE = os.environ.get("CLIX_TEST_STANDIN_IMAGE", "localhost/clix-gstudio-standin:latest")
SHARED_IMAGE_STORE = "/var/lib/containers/storage"
SUPERVISORCTL = Path(__file__).resolve().parent / "standin" / "supervisorctl"  # where containers/build-images.sh builds


def podman_env(d: Path) -> dict[str, str]:
    return {"CONTAINERS_CONF": str(d / "containers" / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(d / "containers" / "storage.conf")}


def write_podman_config(d: Path) -> None:
    """Per school: its own container state, the images read from the control node's store."""
    c = d / "containers"
    c.mkdir(parents=True, exist_ok=True)
    (c / "storage.conf").write_text(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{c / "storage"}"\nrunroot = "{c / "run"}"\n'
        f'[storage.options]\nadditionalimagestores = ["{SHARED_IMAGE_STORE}"]\n')
    project_conf = (Path(__file__).resolve().parent.parent / "containers" / "containers.conf").read_text()
    (c / "containers.conf").write_text(project_conf.replace("[engine]\n", f'[engine]\ntmp_dir = "{c / "tmp"}"\n'))


def start_gstudio_container(lab: Lab, school: School, pg_password: str) -> None:
    """The stand-in gStudio container, in the school's namespaces, with gStudio's volumes."""
    # A fleet that died without `down` leaves the container's record behind.
    podman_in_school(lab, school, "rm", "-f", "-t", "0", "gstudio", check=False, capture_output=True)
    podman_in_school(lab, school, "run", "-d", "--name", "gstudio", "--network", "host",
                     "-v", "/home/core/data:/data", "-v", "/home/core/code:/home/docker/code",
                     "-e", "PGHOST=127.0.0.1", "-e", f"PGPORT={PG_PORT}", "-e", "PGUSER=postgres",
                     "-e", f"PGPASSWORD={pg_password}", "-e", "PGDATABASE=gstudio_psql",
                     # A stopped MongoDB (tests stop it) is found out in 3 s, not the scripts' 10 s each.
                     "-e", f"CLIX_MONGO_URI=mongodb://127.0.0.1:{MONGO_PORT}/?directConnection=true"
                           "&serverSelectionTimeoutMS=3000",
                     # gStudio's services under supervisord: a stand-in supervisorctl and its programs.
                     "-v", f"{SUPERVISORCTL}:/usr/local/bin/supervisorctl:ro",
                     STANDIN_IMAGE, "sh", "-c", "supervisorctl start all && exec sleep infinity", capture_output=True)


def podman_in_school(lab: Lab, school: School, *args: str, **kwargs) -> subprocess.CompletedProcess:
    """`podman ...` as the school server itself would run it (tests stop or remove its container)."""
    env = [f"{k}={v}" for k, v in podman_env(lab.host_dir(school)).items()]
    return run(in_host(sshd_pid(lab, school), ["env", *env, "podman", *args]), **kwargs)


def start_host(lab: Lab, school: School) -> int:
    """Create the namespace and start sshd in a private mount/UTS namespace; return sshd's pid."""
    d = lab.host_dir(school)
    mounts = LAB_PC_MOUNTS if school.pc else PRIVATE_MOUNTS
    for sub in (*(f"root/{src}" for src in mounts.values()), "log"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    if not school.pc:
        shutil.chown(d / "root/pgsock", "postgres", "postgres")
    cfg = write_sshd_config(lab, school, d)
    write_podman_config(d)
    ns = school.netns
    quiet(["ip", "netns", "del", ns])
    run(["ip", "netns", "add", ns])
    quiet(["ip", "link", "del", school.veth])
    run(["ip", "link", "add", school.veth, "type", "veth", "peer", "name", "eth0", "netns", ns])
    run(["ip", "link", "set", school.veth, "master", BRIDGE, "up"])
    run(["ip", "-n", ns, "addr", "add", f"{school.address}/24", "dev", "eth0"])
    run(["ip", "-n", ns, "link", "set", "eth0", "up"])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])
    for mount_point in (*mounts, "/run/sshd"):
        Path(mount_point).mkdir(parents=True, exist_ok=True)
    binds = " ".join(f"mount --bind {d / 'root' / src} {dst};" for dst, src in mounts.items())
    binds += "".join(f" mount --bind {stock} {rc};" for rc, stock in ROOT_DOTFILES.items()
                     if Path(rc).exists() and Path(stock).exists())
    if school.gstudio_container:
        # `ip netns exec` mounts a fresh /sys without cgroups; runc needs the host's hierarchies.
        binds += cgroup_mounts()
    script = f"hostname {'labpc' if school.pc else 'school'}-{school.name}; {binds} exec /usr/sbin/sshd -D -e -f {cfg}"
    with open(d / "log" / "sshd.log", "ab") as log:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, "unshare", "--mount", "--uts", "--propagation", "private",
             "sh", "-c", script],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    (d / "sshd.ppid").write_text(str(proc.pid))
    return proc.pid


def in_host(pid: int, cmd: list[str]) -> list[str]:
    """Prefix cmd so it runs inside the host's network, mount and UTS namespaces."""
    return ["nsenter", "-t", str(pid), "-n", "-m", "-u", "--", *cmd]


def wait_for(predicate, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")


def ns_pids(ns: str) -> list[int]:
    out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def sshd_pid(lab: Lab, school: School) -> int:
    """The pid of the long-lived process that holds the host's mount namespace (sshd)."""
    return int((lab.host_dir(school) / "sshd.ppid").read_text())


def pg_template(lab: Lab) -> Path:
    """initdb once per lab; every host gets a copy (much faster than initdb per host)."""
    tpl = lab.root / "pg-template"
    if (tpl / "PG_VERSION").exists():
        return tpl
    tmp = lab.root / "pg-template.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shutil.chown(tmp, "postgres", "postgres")
    pwfile = tmp.parent / "pg-template.pw"
    pwfile.write_text("template-only\n")
    shutil.chown(pwfile, "postgres", "postgres")
    run(["runuser", "-u", "postgres", "--", str(PG_BIN / "initdb"), "-D", str(tmp), "-U", "postgres",
         "--auth-local=peer", "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8",
         "--locale=C"], capture_output=True)
    pwfile.unlink()
    tmp.rename(tpl)
    return tpl


def start_postgres(lab: Lab, school: School, pid: int, password: str) -> None:
    d = lab.host_dir(school)
    data = d / "pg"
    if not (data / "PG_VERSION").exists():
        run(["cp", "-a", str(pg_template(lab)), str(data)])
    log = d / "log" / "postgresql.log"
    log.touch()
    shutil.chown(log, "postgres", "postgres")
    opts = (f"-c listen_addresses='127.0.0.1,{school.address}' -c port={PG_PORT} "
            "-c unix_socket_directories=/var/run/postgresql -c shared_buffers=16MB "
            "-c max_connections=20 -c fsync=off -c dynamic_shared_memory_type=mmap")
    run(in_host(pid, ["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(data),
                      "-l", str(log), "-w", "-s", "-o", opts, "start"]), capture_output=True)
    hba = data / "pg_hba.conf"
    if f"{SUBNET_PREFIX}.0/24" not in hba.read_text():
        with hba.open("a") as f:
            f.write(f"host all all {SUBNET_PREFIX}.0/24 scram-sha-256\n")
        run(in_host(pid, ["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(data),
                          "-s", "reload"]), capture_output=True)
    sql = f"ALTER USER postgres PASSWORD '{password}'"
    run(in_host(pid, ["runuser", "-u", "postgres", "--", "psql", "-q", "-p", str(PG_PORT), "-c", sql]),
        capture_output=True)


def start_mongo(lab: Lab, school: School, pid: int) -> None:
    d = lab.host_dir(school)
    exe = Path(sys.executable).with_name("secantusd-py")
    cache = "256M" if school.big else "64M"
    log = open(d / "log" / "mongo.log", "ab")  # noqa: SIM115 - handed to the child process
    proc = subprocess.Popen(
        in_host(pid, [str(exe), "--host", "0.0.0.0", "--port", str(MONGO_PORT), "--storage-path",
                      str(d / "mongo"), "--standalone", "--log-level", "WARNING", "--cache-size", cache]),
        stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    (d / "mongo.pid").write_text(str(proc.pid))


def port_answers(address: str, port: int) -> bool:
    import socket

    try:
        with socket.create_connection((address, port), timeout=0.2):
            return True
    except OSError:
        return False


def mongo_answers(school: School) -> bool:
    return port_answers(school.address, MONGO_PORT)


def stop_mongo(lab: Lab, school: School) -> None:
    """Stop one school's MongoDB server (tests use it to simulate a database that is down)."""
    pidfile = lab.host_dir(school) / "mongo.pid"
    if pidfile.exists():
        kill_tree(int(pidfile.read_text()))
        wait_for(lambda: not mongo_answers(school), f"MongoDB of {school.server_id} to stop", 10)


def kill_tree(pid: int, sig: int = signal.SIGTERM) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        reap(pid)
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    quiet_kill(pid)
    reap(pid)


def reap(pid: int) -> None:
    """Collect a child that has exited (when the fleet runs in-process, its servers are our children)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def quiet_kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def stop_host(lab: Lab, school: School) -> None:
    d = lab.host_dir(school)
    if school.gstudio_container and (d / "sshd.ppid").exists():
        with contextlib.suppress(Exception):
            podman_in_school(lab, school, "rm", "-f", "-t", "0", "gstudio", check=False, capture_output=True, timeout=30)
    data = d / "pg"
    pidfile = data / "postmaster.pid"
    if pidfile.exists():
        quiet(["kill", "-INT", pidfile.read_text().split()[0]])
    if (d / "mongo.pid").exists():
        # Its storage goes with the host's folder (down): no clean shutdown to wait for (seconds each).
        kill_tree(int((d / "mongo.pid").read_text()), signal.SIGKILL)
    # Every process left in the namespace: sshd, its per-connection children, PostgreSQL.
    for _ in range(50):
        pids = ns_pids(school.netns)
        if not pids:
            break
        for p in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGTERM if _ < 30 else signal.SIGKILL)
        time.sleep(0.1)
    quiet(["ip", "netns", "del", school.netns])
    quiet(["ip", "link", "del", school.veth])


def teardown_network() -> None:
    """Remove the bridge once no fleet uses it (two fleets may share it, on other addresses)."""
    ports = subprocess.run(["ip", "-o", "link", "show", "master", BRIDGE], capture_output=True, text=True).stdout
    if not ports.strip():
        quiet(["ip", "link", "del", BRIDGE])


def set_link(school: School, up: bool) -> None:
    """Cut (or restore) a school's network, as a pulled cable would."""
    run(["ip", "-n", school.netns, "link", "set", "eth0", "up" if up else "down"])


def limit_rate(school: School, rate: str | None) -> None:
    """Limit the school's outgoing link (e.g. '10mbit'), or remove the limit with None."""
    quiet(["ip", "netns", "exec", school.netns, "tc", "qdisc", "del", "dev", "eth0", "root"])
    if rate:
        run(["ip", "netns", "exec", school.netns, "tc", "qdisc", "add", "dev", "eth0", "root", "tbf",
             "rate", rate, "burst", "32kbit", "latency", "400ms"])


def restart_mongo(lab: Lab, school: School) -> None:
    start_mongo(lab, school, sshd_pid(lab, school))
    wait_for(lambda: mongo_answers(school), f"MongoDB of {school.server_id}", 30)


def in_namespace(lab: Lab, school: School, cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a command inside the school's namespaces (what the school server itself would run)."""
    return run(in_host(sshd_pid(lab, school), cmd), **kwargs)


UNPLATFORM_WRITER = Path(__file__).resolve().parent / "standin" / "unplatform_writer.py"
APP_PORTS = (8080, 8888)


def app_answers(pc: School) -> tuple[bool, ...]:
    """Whether each of the app's ports answers: the stand-in opens them one after the other."""
    return tuple(port_answers(pc.address, port) for port in APP_PORTS)


def start_unplatform_writer(lab: Lab, pc: School, root: str = "/opt/clix", env: dict | None = None) -> None:
    """Start the stand-in of the unplatform app (fleet/standin/unplatform_writer.py) on a lab PC, with
    this process's environment and env (its CLIX_STANDIN_* settings)."""
    d = lab.host_dir(pc)
    log = open(d / "log" / "unplatform-writer.log", "ab")  # noqa: SIM115 - handed to the child process
    proc = subprocess.Popen(in_host(sshd_pid(lab, pc), ["/usr/bin/python3", str(UNPLATFORM_WRITER), "--root", root]),
                            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
                            env=dict(os.environ, **(env or {})))
    (d / "unplatform-writer.pid").write_text(str(proc.pid))
    wait_for(lambda: all(app_answers(pc)), f"the unplatform stand-in of {pc.name}", 30)


def stop_unplatform_writer(lab: Lab, pc: School) -> None:
    """Stop the app on a lab PC (SIGTERM: it finishes its tick, so no file is left torn)."""
    pidfile = lab.host_dir(pc) / "unplatform-writer.pid"
    if pidfile.exists():
        kill_tree(int(pidfile.read_text()))
        pidfile.unlink()
        wait_for(lambda: not any(app_answers(pc)), f"the unplatform stand-in of {pc.name} to stop", 10)
