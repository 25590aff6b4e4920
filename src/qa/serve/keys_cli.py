"""`qa keys add/list/revoke`: the API keys `qa serve` checks (serve/keys.py, docs/security.md); cli.py adds them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

KeysFile = typer.Option(None, "--keys", envvar="QA_KEYS", metavar="FILE", help="The API keys file (default: "
                        "beside the index folder, INDEX_DIR.keys.json).")


def security_from(
    keys_file: Optional[Path] = KeysFile,
    no_auth: bool = typer.Option(False, "--no-auth", help="Answer without API keys, even beyond loopback."),
    rate: str = typer.Option("600/minute", "--rate-limit", metavar="N/PERIOD", help="Requests a key may make, "
                             "e.g. 600/minute or 20/second (answered 429 beyond it)."),
    tls_cert: Optional[Path] = typer.Option(None, "--tls-cert", metavar="PEM", help="Serve HTTPS with this "
                                            "certificate (and --tls-key)."),
    tls_key: Optional[Path] = typer.Option(None, "--tls-key", metavar="PEM", help="The certificate's private key."),
    watch: bool = typer.Option(False, "--watch", help="Re-index when the corpus the index was built from changes, "
                               "and serve the new index at once."),
) -> dict:
    """`qa serve`'s keys, limit, TLS and watch options (cli.py's `_with` builds them), as `serve`'s keywords."""
    from .server import security_options

    return {**security_options(keys_file, no_auth, rate, tls_cert, tls_key), "watch": watch}


def keys_commands(IndexDir, JsonOut, _user_errors, _warn) -> typer.Typer:  # noqa: N803 - cli.py's names
    """The `qa keys` commands, with the CLI's shared options and error handling (given by cli.py, which
    imports this module: importing cli.py here would be circular)."""
    keys_app = typer.Typer(help="API keys for `qa serve`: made once and shown once, stored as hashes (mode 0600).",
                           no_args_is_help=True)

    def _keys_path(keys_file: Path | None, index_dir: Path | None) -> Path:
        from ..locate import find_index
        from .keys import default_keys_file

        # the index `qa serve` here would use (--index-dir, $QA_INDEX, the nearest .qa/, index/): its keys
        return keys_file if keys_file is not None else default_keys_file(find_index(index_dir).path)

    @keys_app.command("add")
    def keys_add_command(name: str = typer.Argument(..., help="Who or what the key is for, e.g. alice or ci."),
                         keys_file: Optional[Path] = KeysFile, index_dir: Optional[Path] = IndexDir) -> None:
        """Make a new key named NAME and print it once: only its hash is kept.

        Example: qa keys add alice   (then: curl -H "Authorization: Bearer qa_..." http://host:8000/ask?q=...)
        """
        from .keys import add_key

        with _user_errors():
            path = _keys_path(keys_file, index_dir)
            key = add_key(path, name)
            _warn(f"key {name!r} added to {path}; it is shown this once: keep it somewhere safe")
            typer.echo(key)

    @keys_app.command("list")
    def keys_list_command(keys_file: Optional[Path] = KeysFile, index_dir: Optional[Path] = IndexDir,
                          as_json: bool = JsonOut) -> None:
        """List the keys' names and when each was made (never a key itself)."""
        from .keys import read_keys
        from .terminal import printable

        with _user_errors():
            records = read_keys(_keys_path(keys_file, index_dir))
            if as_json:
                typer.echo(json.dumps([{"name": r.name, "created": r.created} for r in records]))
            for record in records if not as_json else ():
                typer.echo(f"{printable(record.name)}\t{record.created}")

    @keys_app.command("revoke")
    def keys_revoke_command(name: str = typer.Argument(..., help="The key's name."),
                            keys_file: Optional[Path] = KeysFile, index_dir: Optional[Path] = IndexDir) -> None:
        """Remove the key NAME: a running server refuses it within a second."""
        from .keys import revoke_key

        with _user_errors():
            revoke_key(_keys_path(keys_file, index_dir), name)
            _warn(f"key {name!r} revoked")

    return keys_app
