"""CURVE encryption and client allow-listing for workers served beyond loopback.

    worldsim keys server --out keys/            # keys/server.key, keys/server.key_secret
    worldsim keys alice --out keys/             # a client key pair; give alice alice.key_secret + server.key
    mkdir keys/clients && cp keys/alice.key keys/clients/
    worldsim serve --bind tcp://0.0.0.0:5555 --curve keys/
    worldsim play --connect tcp://server:5555 --curve keys/ --curve-name alice

A key directory holds `server.key_secret` (server side) or `server.key` + `<name>.key_secret`
(client side); the server accepts exactly the public keys in `<dir>/clients/`.
"""
from __future__ import annotations

import os
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator


class KeyFileError(ValueError):
    """A key file is missing or unreadable."""


def make_keys(out: str | Path, name: str) -> tuple[Path, Path]:
    """A key pair in `out` (made 0700 if new; refused if others may read it): NAME.key, NAME.key_secret (0600)."""
    out = Path(out)
    if not name or "/" in name or name.startswith("."):
        raise KeyFileError(f"bad key name {name!r}: use a plain name such as server or alice")
    try:
        if out.exists():
            if not out.is_dir():
                raise KeyFileError(f"{out} is not a folder")
            if out.stat().st_mode & 0o077:
                raise KeyFileError(f"{out} can be read by other users (mode {out.stat().st_mode & 0o777:o}); "
                                   f"keep keys in a private folder (chmod 700 {out}) or pick a new one")
        else:
            out.mkdir(parents=True, mode=0o700)
            os.chmod(out, 0o700)                      # whatever the umask
        old_umask = os.umask(0o077)                   # the secret file is never readable by others, not even briefly
        try:
            public, secret = zmq.auth.create_certificates(out, name)
        finally:
            os.umask(old_umask)
        os.chmod(secret, 0o600)
        os.chmod(public, 0o644)
    except OSError as err:
        raise KeyFileError(f"cannot write keys to {out}: {err.strerror or err}") from None
    return Path(public), Path(secret)


def _load(path: Path, secret: bool) -> tuple[bytes, bytes | None]:
    if not path.exists():
        raise KeyFileError(f"key file {path} not found (make one with `worldsim keys NAME --out {path.parent}`)")
    try:
        public, secret_key = zmq.auth.load_certificate(path)
    except Exception as err:
        raise KeyFileError(f"cannot read key file {path}: {err}") from None
    if secret and secret_key is None:
        raise KeyFileError(f"{path} holds no secret key")
    return public, secret_key


def secure_server(ctx: zmq.Context, socket: zmq.Socket, key_dir: str | Path) -> ThreadAuthenticator:
    """Make `socket` a CURVE server that accepts only the public keys in `key_dir/clients/`."""
    key_dir = Path(key_dir)
    if not key_dir.is_dir():
        raise KeyFileError(f"CURVE key folder {key_dir} not found (make one with `worldsim keys server --out {key_dir}`)")
    public, secret = _load(key_dir / "server.key_secret", secret=True)
    clients = key_dir / "clients"
    if not clients.is_dir() or not any(clients.glob("*.key")):
        raise KeyFileError(f"no allowed client keys in {clients}/ (copy each client's NAME.key there)")
    auth = ThreadAuthenticator(ctx)
    auth.start()
    auth.configure_curve(domain="*", location=str(clients))
    socket.curve_secretkey = secret
    socket.curve_publickey = public
    socket.curve_server = True
    return auth


def secure_client(socket: zmq.Socket, key_dir: str | Path, name: str = "client") -> None:
    """Make `socket` a CURVE client of the server whose public key is `key_dir/server.key`."""
    key_dir = Path(key_dir)
    server_public, _ = _load(key_dir / "server.key", secret=False)
    public, secret = _load(key_dir / f"{name}.key_secret", secret=True)
    socket.curve_serverkey = server_public
    socket.curve_publickey = public
    socket.curve_secretkey = secret
