"""A throwaway PostgreSQL cluster serving restored drill databases locally (tests and `deckwatch demo`).

Uses the server binaries of the machine (/usr/lib/postgresql/<15|16|...>/bin, or PG_BIN): initdb into a
temporary folder, pg_ctl on a free 127.0.0.1 port, password authentication (scram), TLS with a certificate for
127.0.0.1 and localhost signed by a throwaway CA (`Cluster.ca_file`), so the validator's verify-full mode runs
locally exactly as against RDS, only with another CA bundle (DRILL_CA_BUNDLE). PostgreSQL refuses
to run as root: as root, the cluster runs as the `postgres` system user when it exists, else as a system user
`deckwatch-pg` created here (useradd).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUPERUSER = "deckwatch"
VALIDATOR_USER = "drill_validator"
DATABASE = "shop"

FIXTURE = """
drop table if exists public.orders;
drop table if exists public.customers;
drop table if exists public.customers_renamed;
create table public.customers (
    id integer primary key, name text not null, created_at timestamptz not null
);
create table public.orders (
    id integer primary key, customer_id integer not null, total numeric(10, 2) not null,
    created_at timestamptz not null
);
insert into public.customers
    select i, 'customer ' || i, now() - interval '30 days' + i * interval '1 hour' from generate_series(1, 50) i;
insert into public.orders
    select i, 1 + i % 50, (i % 97) + 0.99, now() - interval '{newest}' - (500 - i) * interval '1 minute'
    from generate_series(1, 500) i;
grant usage on schema public to drill_validator;
grant select on all tables in schema public to drill_validator;
"""


def bin_dir() -> Path | None:
    given = os.environ.get("PG_BIN")
    candidates = [Path(given)] if given else sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for path in candidates:
        if (path / "initdb").exists() and (path / "pg_ctl").exists():
            return path
    return None


def available() -> bool:
    return bin_dir() is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _os_user() -> str | None:
    """None: run as ourselves. As root: a non-root system user, created when missing."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "deckwatch-pg"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "deckwatch-pg"],  # noqa: S607
        check=True,
        capture_output=True,
    )
    return "deckwatch-pg"


def _write_certificates(folder: Path, os_user: str | None) -> None:
    """ca.pem, and server.crt/server.key for 127.0.0.1 and localhost signed by it (valid for a day)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def cert(subject: str, key: Any, issuer: str, signer: Any, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        # Python 3.13 verifies strictly (VERIFY_X509_STRICT): key identifiers and key usage must be present
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
        else:
            names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False).add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = cert("deckwatch local drill CA", ca_key, "deckwatch local drill CA", ca_key, ca=True)
    server = cert("localhost", server_key, "deckwatch local drill CA", ca_key, ca=False)
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "server.crt").write_bytes(server.public_bytes(pem))
    key = server_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (folder / "server.key").write_bytes(key)
    os.chmod(folder / "server.key", 0o600)  # PostgreSQL refuses a key others can read
    if os_user is not None:
        info = pwd.getpwnam(os_user)
        for name in ("ca.pem", "server.crt", "server.key"):
            os.chown(folder / name, info.pw_uid, info.pw_gid)


@dataclass
class Cluster:
    folder: Path
    port: int
    password: str
    os_user: str | None
    bin: Path
    host: str = "127.0.0.1"

    @property
    def ca_file(self) -> Path:
        """The throwaway CA that signed the server certificate (what DRILL_CA_BUNDLE names locally)."""
        return self.folder / "ca.pem"

    @classmethod
    def start(cls) -> Cluster:
        pg = bin_dir()
        if pg is None:
            raise FileNotFoundError("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin or PG_BIN)")
        user = _os_user()
        folder = Path(tempfile.mkdtemp(prefix="deckwatch-pg-"))
        password = "drill-" + os.urandom(8).hex()
        (folder / "pw").write_text(password + "\n", encoding="utf-8")
        if user is not None:
            info = pwd.getpwnam(user)
            os.chmod(folder, 0o700)
            for p in (folder, folder / "pw"):
                os.chown(p, info.pw_uid, info.pw_gid)
        cluster = cls(folder, _free_port(), password, user, pg)
        _write_certificates(folder, user)
        cluster._run(
            "initdb", "-D", str(folder / "data"), "-U", SUPERUSER, "--auth=scram-sha-256",
            f"--pwfile={folder / 'pw'}", "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        cluster._run(
            "pg_ctl", "-D", str(folder / "data"), "-l", str(folder / "log"), "-w", "-t", "60",
            "-o", f"-p {cluster.port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c ssl=on"
            f" -c ssl_cert_file={folder / 'server.crt'} -c ssl_key_file={folder / 'server.key'}", "start",
        )  # fmt: skip
        cluster._setup()
        return cluster

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bin / tool), *args]
        if self.os_user is not None:
            cmd = ["runuser", "-u", self.os_user, "--", *cmd] if shutil.which("runuser") else cmd
        subprocess.run(cmd, check=True, capture_output=True, cwd=self.folder)  # noqa: S603

    def connect(self, database: str = "postgres", user: str = SUPERUSER) -> Any:
        import pg8000.native  # type: ignore[import-untyped]

        return pg8000.native.Connection(
            user=user, password=self.password, host=self.host, port=self.port, database=database
        )

    def _setup(self) -> None:
        conn = self.connect()
        try:
            conn.run(f"create role {VALIDATOR_USER} login password '{self.password}'")
            conn.run(f"create database {DATABASE}")
        finally:
            conn.close()
        self.load_fixture()

    def load_fixture(self, newest: str = "10 minutes") -> None:
        """Customers and orders, the newest order `newest` old (an interval)."""
        conn = self.connect(DATABASE)
        try:
            for statement in FIXTURE.format(newest=newest).split(";"):
                if statement.strip():
                    conn.run(statement)
        finally:
            conn.close()

    def sql(self, statement: str) -> Any:
        conn = self.connect(DATABASE)
        try:
            return conn.run(statement)
        finally:
            conn.close()

    def credentials(self) -> dict[str, str]:
        return {"username": VALIDATOR_USER, "password": self.password}

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
