"""Local fleet of simulated CLIx school servers and lab PCs (test bed only).

    python -m fleet up --schools mz=3,ct=2 [--lab-pcs] [--big mz1] [--hostile mz1] [--dir DIR]
    python -m fleet down [--dir DIR]
    python -m fleet status [--dir DIR]

Each school is a network namespace on bridge clixbr0 (10.231.0.0/24) running its own sshd,
PostgreSQL 15 (127.0.0.1:8432) and MongoDB wire server (SecantusDB, 127.0.0.1:8017), with
/home/core and /opt of its own. The fleet writes an Ansible inventory of itself, in the same
shape as inventories/<state>/, to DIR/inventory.

--lab-pcs adds unplatform lab PCs: network namespaces with their own sshd, /opt and /home, no
gStudio, on the addresses after the schools'. Each is the host <code>-<id>-<pc> of its school's
group (clix_platform: unplatform, clix_pc: <pc>). The plan (chosen so that the tests' looks at
mz1..mz3 and ct2 see no lab PC; ct1 is the school that already "runs unplatform"):

    school                         pc    installs (fleet/unplatform.py makes their data)
    ct1 (or the first school)      pc01  v2 at /opt/clix, config.json = this school and pc01, and the
                                         app running: fleet/standin/unplatform_writer.py appends
                                         sessions (WAL), rewrites JSON in place, listens on 8080, 8888
    ct1                            pc02  v2 at /opt/clix without config.json, app not running
    rj<n+1> (no server: n = the    pc01  v1 (2016, Django) at /home/student/CLIx_Unplatform
      rj servers of --schools)     pc02  v2 at /opt/clix, config.json = this school and pc02, app not running
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml
from ansible.module_utils import clix_identity

from fleet import data, hostile, hosts, unplatform
from fleet.hosts import Lab, School

DEFAULT_DIR = Path(os.environ.get("CLIX_FLEET_DIR", "/var/tmp/clix-fleet"))
STATE_DIGIT = {state: digit for digit, state in clix_identity.STATE_DIGIT.items()}
DISTRICT = {"ct": "01", "mz": "03", "rj": "05", "tg": "22"}
SCHOOL_NAMES = {"mz": "GOVT. MIZO HIGH SCHOOL", "ct": "Govt. H.S. School Dhamtari",
                "rj": "Govt. Adarsh Sr. Sec. School", "tg": "ZPHS ASHOKNAGAR"}
SEED = 2017
LAB_PC_SESSIONS = 100  # about 1000 JSON files per v2 install
# An install of a lab PC: (path, version 2?, config.json written?, app running?)
LAB_PC_INSTALLS = {
    "v2-app": ("/opt/clix", True, True, True),
    "v2-noconfig": ("/opt/clix", True, False, False),
    "v2": ("/opt/clix", True, True, False),
    "v1": ("/home/student/CLIx_Unplatform", False, False, False),
}
STUDENT_UID = 1000  # the lab PC's desktop user, who unzipped the 2016 version


def plan(spec: str, big: set[str], first_address: int = 11, tag: str = "",
         gstudio_container: bool = False, hostile_ids: frozenset[str] = frozenset()) -> list[School]:
    """'mz=3,ct=2' -> schools mz1..mz3, ct1..ct2. ct1 also runs unplatform; ct2's code has a
    leading zero (as in the field team's example tree). hostile_ids: schools made hostile
    (fleet/hostile.py)."""
    schools, index = [], 1
    for part in spec.split(","):
        state, _, count = part.partition("=")
        if state not in STATE_DIGIT or not count.isdigit():
            raise SystemExit(f"fleet: bad --schools entry {part!r}: expected STATE=N with STATE in "
                             f"{', '.join(STATE_DIGIT)}")
        for n in range(1, int(count) + 1):
            sid = f"{state}{n}"
            code = f"{STATE_DIGIT[state]}{DISTRICT[state]}1{n:03d}"
            if state == "ct" and n == 2:
                code = "0" + code
            schools.append(School(state, sid, code, f"{SCHOOL_NAMES[state]} {n}", index,
                                  unplatform=(sid == "ct1"), big=(sid in big), first_address=first_address,
                                  tag=tag, gstudio_container=gstudio_container, hostile=(sid in hostile_ids)))
            index += 1
    unknown = set(hostile_ids) - {s.server_id for s in schools}
    if unknown:
        raise SystemExit(f"fleet: --hostile names {', '.join(sorted(unknown))}, not in --schools {spec}")
    check_addresses(first_address, index - 1)
    return schools


def check_addresses(first_address: int, count: int) -> None:
    if first_address + count - 1 > 254:
        raise SystemExit("fleet: the schools and lab PCs do not fit in 10.231.0.0/24 from --first-address on")


def plan_lab_pcs(schools: list[School]) -> list[School]:
    """The lab PCs of the module docstring's plan, on the addresses after the schools'."""
    first = schools[0]
    server = next((s for s in schools if s.server_id == "ct1"), first)
    n = 1 + sum(1 for s in schools if s.state == "rj")
    no_server = {"state": "rj", "server_id": f"rj{n}", "school_code": f"{STATE_DIGIT['rj']}{DISTRICT['rj']}1{n:03d}",
                 "school_name": f"{SCHOOL_NAMES['rj']} {n}"}
    at_server = {"state": server.state, "server_id": server.server_id, "school_code": server.school_code,
                 "school_name": server.school_name}
    wanted = [(at_server, "pc01", ("v2-app",)), (at_server, "pc02", ("v2-noconfig",)),
              (no_server, "pc01", ("v1",)), (no_server, "pc02", ("v2",))]
    index = len(schools)
    check_addresses(first.first_address, index + len(wanted))
    return [School(**school, index=index + i, first_address=first.first_address, tag=first.tag, pc=pc,
                   installs=installs) for i, (school, pc, installs) in enumerate(wanted, 1)]


def wait_port(address: str, port: int, what: str, timeout: float = 30) -> None:
    def answers() -> bool:
        try:
            with socket.create_connection((address, port), timeout=0.2):
                return True
        except OSError:
            return False

    hosts.wait_for(answers, what, timeout)


def start_sshd(lab: Lab, host: School, what: str) -> None:
    """Start the host's sshd and wait until it answers; once more if it did not (a loaded machine)."""
    log = lab.host_dir(host) / "log" / "sshd.log"
    for attempt in (1, 2):
        hosts.start_host(lab, host)
        try:
            wait_port(host.address, 22, f"sshd of {what}", timeout=60)
            return
        except RuntimeError as e:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
            if attempt == 2:
                raise RuntimeError(f"{e}; its log ends:\n{tail}") from None
            print(f"fleet: {what}'s sshd did not answer, starting it again; its log ends:\n{tail}", flush=True)
            hosts.stop_host(lab, host)


def bring_up(lab: Lab, school: School, code_template: Path) -> str:
    t0 = time.monotonic()
    start_sshd(lab, school, school.server_id)
    password = secrets.token_hex(12)
    (lab.host_dir(school) / "pg.password").write_text(password)
    # The mount namespace exists once sshd listens; services start inside it.
    sshd = hosts.sshd_pid(lab, school)
    core = lab.host_dir(school) / "root" / "home" / "core"
    data.write_files(sd := data.SchoolData(SEED, school.server_id, school.school_code, school.school_name,
                                            school.big), core, school.unplatform, code_template)
    hosts.start_postgres(lab, school, sshd, password)
    hosts.start_mongo(lab, school, sshd)
    data.load_postgres(sd, school.address, hosts.PG_PORT, password)
    wait_port(school.address, hosts.MONGO_PORT, f"MongoDB of {school.server_id}")
    n = data.load_mongo(sd, school.address, hosts.MONGO_PORT)
    if school.hostile:
        hostile.arm(lab, school, sd, hosts.MONGO_PORT, hosts.PG_PORT, password)
    if school.gstudio_container:
        hosts.start_gstudio_container(lab, school, password)
    return f"{school.hostname}: {school.address} up in {time.monotonic() - t0:.1f}s ({n} Benchmarks)"


def bring_up_lab_pc(lab: Lab, pc: School) -> str:
    t0 = time.monotonic()
    start_sshd(lab, pc, pc.name)
    root = lab.host_dir(pc) / "root"
    sessions = 0
    for kind in pc.installs:
        path, v2, config, app = LAB_PC_INSTALLS[kind]
        install = root / path.lstrip("/")
        if v2:
            made = unplatform.generate(install, f"{SEED}-{pc.name}-{kind}", LAB_PC_SESSIONS, config=config,
                                       school_code=pc.school_code, pc=pc.pc)
        else:
            made = unplatform.generate_v1(install, f"{SEED}-{pc.name}-{kind}", LAB_PC_SESSIONS // 4)
            hosts.run(["chown", "-R", f"{STUDENT_UID}:{STUDENT_UID}", str(root / "home" / "student")])
        sessions += len(made.sessions)
        if app:
            hosts.start_unplatform_writer(lab, pc, path)
    return f"{pc.hostname}: {pc.address} up in {time.monotonic() - t0:.1f}s ({', '.join(pc.installs)}; {sessions} sessions)"


def write_inventory(lab: Lab, schools: list[School], lab_pcs: list[School] = ()) -> None:
    inv = lab.inventory
    shutil.rmtree(inv, ignore_errors=True)
    for state in sorted({s.state for s in [*schools, *lab_pcs]}):
        children: dict[str, dict] = {}
        for s in (s for s in schools if s.state == state):
            pw = (lab.host_dir(s) / "pg.password").read_text()
            children[s.server_id] = {"hosts": {s.hostname: {
                "ansible_host": s.address, "school_code": s.school_code, "school_name": s.school_name,
                "clix_postgres_password": pw,
                **({"clix_container_runtime": "podman"} if s.gstudio_container else {})}}}
        for pc in (p for p in lab_pcs if p.state == state):
            children.setdefault(pc.server_id, {"hosts": {}})["hosts"][pc.hostname] = {
                "ansible_host": pc.address, "school_code": pc.school_code, "school_name": pc.school_name,
                "clix_platform": "unplatform", "clix_pc": pc.pc}
        path = inv / state / "hosts.yml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# Written by `python -m fleet up`: the local test fleet.\n" +
                        yaml.safe_dump({state: {"children": children}}, sort_keys=False))
    group_vars = {
        "ansible_user": "root",
        "ansible_ssh_private_key_file": str(lab.key),
        "ansible_ssh_common_args": f"-o UserKnownHostsFile={lab.known_hosts}",
        "ansible_python_interpreter": "/usr/bin/python3",
    }
    (inv / "group_vars").mkdir(parents=True, exist_ok=True)
    (inv / "group_vars" / "all.yml").write_text(yaml.safe_dump(group_vars, sort_keys=False))


def write_known_hosts(lab: Lab, schools: list[School]) -> None:
    lines = []
    for s in schools:
        key = (lab.host_dir(s) / "ssh_host_ed25519_key.pub").read_text().split()
        lines.append(f"{s.address} {key[0]} {key[1]}\n")
    lab.known_hosts.write_text("".join(lines))


def up(lab: Lab, schools: list[School], lab_pcs: list[School] = ()) -> None:
    if lab.schools() or lab.lab_pcs():
        down(lab)
    t0 = time.monotonic()
    hosts.ensure_client_key(lab)
    hosts.ensure_network()
    hosts.pg_template(lab)
    code_template = lab.root / f"code-template-{data.CODE_TEMPLATE_VERSION}"
    if not code_template.exists():
        tmp = lab.root / "code-template.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        data.make_code_template(tmp)
        tmp.rename(code_template)
    lab.save(schools, lab_pcs)
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            for line in pool.map(lambda s: bring_up(lab, s, code_template), schools):
                print(line, flush=True)
            for line in pool.map(lambda pc: bring_up_lab_pc(lab, pc), lab_pcs):
                print(line, flush=True)
    except BaseException:
        down(lab)  # a host that failed to come up leaves none of the fleet's namespaces or processes behind
        raise
    write_known_hosts(lab, [*schools, *lab_pcs])
    write_inventory(lab, schools, lab_pcs)
    pcs = f" and {len(lab_pcs)} lab PCs" if lab_pcs else ""
    print(f"fleet: {len(schools)} schools{pcs} up in {time.monotonic() - t0:.1f}s; inventory: {lab.inventory}")


def down(lab: Lab) -> None:
    schools, lab_pcs = lab.schools(), lab.lab_pcs()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda s: hosts.stop_host(lab, s), [*schools, *lab_pcs]))
    hosts.teardown_network()
    for s in schools:
        if s.hostile:
            hostile.disarm(lab, s)
    for sub in ("hosts", "inventory", "fleet.json", "known_hosts", "authorized_keys"):
        path = lab.root / sub
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            path.unlink()
    print(f"fleet: {len(schools)} schools and {len(lab_pcs)} lab PCs down")


def status(lab: Lab) -> int:
    schools = lab.schools() + lab.lab_pcs()
    if not schools:
        print("fleet: not up")
        return 1
    for s in schools:
        print(f"{s.hostname:20} {s.address:14} processes={len(hosts.ns_pids(s.netns))}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fleet", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["up", "down", "status"])
    p.add_argument("--schools", default="mz=3,ct=2", help="schools per state, e.g. mz=3,ct=2")
    p.add_argument("--big", default="", help="comma-separated server ids that get benchmark-sized data")
    p.add_argument("--first-address", type=int, default=11,
                   help="last octet of the first school's address (another fleet may use others)")
    p.add_argument("--hostile", default="",
                   help="comma-separated server ids made hostile (fleet/hostile.py: their data attacks the control node)")
    p.add_argument("--tag", default="", help="short name that keeps this fleet's namespaces apart from another's")
    p.add_argument("--gstudio-container", action="store_true",
                   help="run the stand-in gStudio container (podman) on every school; needs `make images`")
    p.add_argument("--lab-pcs", action="store_true",
                   help="add the unplatform lab PCs of the plan above (one school of them has no server)")
    p.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="lab folder (default %(default)s)")
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("fleet: must run as root (network namespaces, bind mounts)", file=sys.stderr)
        return 2
    lab = Lab(args.dir.resolve())
    if args.command == "up":
        schools = plan(args.schools, set(filter(None, args.big.split(","))), args.first_address, args.tag,
                       args.gstudio_container, frozenset(filter(None, args.hostile.split(","))))
        up(lab, schools, plan_lab_pcs(schools) if args.lab_pcs else [])
    elif args.command == "down":
        down(lab)
    else:
        return status(lab)
    return 0


if __name__ == "__main__":
    sys.exit(main())
