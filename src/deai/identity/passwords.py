"""Where a keystore password comes from: config (env/file) first, then an interactive prompt.

A password is never printed, logged or stored; it is passed straight to the keystore.
"""

from __future__ import annotations

import getpass
import sys

from deai.config import Config
from deai.errors import IdentityError


def resolve_password(config: Config, *, confirm: bool = False, prompt: str = "Password") -> str:
    """The password from ``DEAI_PASSWORD``, ``DEAI_PASSWORD_FILE``/``--password-file``, or a prompt."""
    if config.password is not None:
        return config.password.get_secret_value()
    try:
        from_file = config.read_password_file()
    except OSError as exc:
        raise IdentityError(
            f"cannot read the password file: {exc.strerror}",
            hint="check the path given to --password-file or DEAI_PASSWORD_FILE",
        ) from None
    if from_file is not None:
        return from_file
    if not sys.stdin.isatty():
        raise IdentityError(
            "a keystore password is needed and there is no terminal to ask on",
            hint="set DEAI_PASSWORD or pass --password-file",
        )
    password = getpass.getpass(f"{prompt}: ")
    if confirm and getpass.getpass("Repeat password: ") != password:
        raise IdentityError("the passwords do not match", hint="type the same password twice")
    return password
