"""Local fleet of simulated CLIx school servers (test bed only).

    python -m fleet up --schools mz=3,ct=2 [--big mz1] [--hostile mz1] [--dir DIR]
    python -m fleet down [--dir DIR]
    python -m fleet status [--dir DIR]

Each school is a network namespace on bridge clixbr0 (10.231.0.0/24) running its own sshd,
PostgreSQL 15 (127.0.0.1:8432) and MongoDB wire server (SecantusDB, 127.0.0.1:8017), with
/home/core and /opt of its own. The fleet writes an Ansible inventory of itself, in the same
shape as inventories/<state>/, to DIR/inventory.
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

from fleet import data, hostile, hosts
from fleet.hosts import Lab, School

DEFAULT_DIR = Path(os.environ.get("CLIX_FLEET_DIR", "/var/tmp/clix-fleet"))
STATE_DIGIT = {"ct": "1", "mz": "2", "rj": "3", "tg": "4"}
DISTRICT = {"ct": "01", "mz": "03", "rj": "05", "tg": "22"}
SCHOOL_NAMES = {"mz": "GOVT. MIZO HIGH SCHOOL", "ct": "Govt. H.S. School Dhamtari",
                "rj": "Govt. Adarsh Sr. Sec. School", "tg": "ZPHS ASHOKNAGAR"}
SEED = 2017


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
    if first_address + index - 1 > 254:
        raise SystemExit("fleet: the schools do not fit in 10.231.0.0/24 from --first-address on")
    return schools


def wait_port(address: str, port: int, what: str, timeout: float = 30) -> None:
    def answers() -> bool:
        try:
            with socket.create_connection((address, port), timeout=0.2):
                return True
        except OSError:
            return False

    hosts.wait_for(answers, what, timeout)


def bring_up(lab: Lab, school: School, code_template: Path) -> str:
    t0 = time.monotonic()
    hosts.start_host(lab, school)
    password = secrets.token_hex(12)
    (lab.host_dir(school) / "pg.password").write_text(password)
    wait_port(school.address, 22, f"sshd of {school.server_id}")
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


def write_inventory(lab: Lab, schools: list[School]) -> None:
    inv = lab.inventory
    shutil.rmtree(inv, ignore_errors=True)
    for state in sorted({s.state for s in schools}):
        children = {}
        for s in (s for s in schools if s.state == state):
            pw = (lab.host_dir(s) / "pg.password").read_text()
            children[s.server_id] = {"hosts": {s.hostname: {
                "ansible_host": s.address, "school_code": s.school_code, "school_name": s.school_name,
                "clix_postgres_password": pw,
                **({"clix_container_runtime": "podman"} if s.gstudio_container else {})}}}
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


def up(lab: Lab, schools: list[School]) -> None:
    if lab.schools():
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
    lab.save(schools)
    with ThreadPoolExecutor(max_workers=8) as pool:
        for line in pool.map(lambda s: bring_up(lab, s, code_template), schools):
            print(line, flush=True)
    write_known_hosts(lab, schools)
    write_inventory(lab, schools)
    print(f"fleet: {len(schools)} schools up in {time.monotonic() - t0:.1f}s; inventory: {lab.inventory}")


def down(lab: Lab) -> None:
    schools = lab.schools()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda s: hosts.stop_host(lab, s), schools))
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
    print(f"fleet: {len(schools)} schools down")


def status(lab: Lab) -> int:
    schools = lab.schools()
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
    p.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="lab folder (default %(default)s)")
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("fleet: must run as root (network namespaces, bind mounts)", file=sys.stderr)
        return 2
    lab = Lab(args.dir.resolve())
    if args.command == "up":
        up(lab, plan(args.schools, set(filter(None, args.big.split(","))), args.first_address, args.tag,
                     args.gstudio_container, frozenset(filter(None, args.hostile.split(",")))))
    elif args.command == "down":
        down(lab)
    else:
        return status(lab)
    return 0


if __name__ == "__main__":
    sys.exit(main())
