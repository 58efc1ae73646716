"""Resolve named credentials from their references, at the moment a step needs them.

A secret NAME (config ``secrets.yaml``) maps to a user name and a password reference:
``env:NAME`` (or, by the Docker convention, ``NAME_FILE`` naming a file), ``file:PATH`` or
``vault:MOUNT/PATH#KEY`` (HashiCorp Vault KV v2 through hvac, with VAULT_ADDR and VAULT_TOKEN,
given from :class:`workers.settings.Settings`). ``env:`` references are the one place the
process environment is read outside the settings: their names come from ``secrets.yaml``.
Every value resolved is registered with the redactor before it is returned. Errors name the
secret and its reference, never a value.

Values are cached by one provider instance only, and the worker takes a fresh one for every run,
preflight and read (:meth:`SecretsProvider.for_run`): a rotated file, variable or Vault entry is
used from the next run on, without restarting the worker.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workers.domain.config import Config
from workers.domain.redact import Redactor, default_redactor

# A shorter password is refused when it is read: it could equal an ordinary word, which the
# redactor would then mask in every text (and it is too weak for an admin account anyway).
MIN_SECRET_LENGTH = 8


class SecretError(LookupError):
    """A secret could not be resolved. ``str()`` names it and where it was looked for (for the
    worker's log); :attr:`public` names it only, for chat: no reference, path or value."""

    def __init__(self, message: str, *, name: str = "", problem: str = "could not be read") -> None:
        super().__init__(message)
        self.name = name
        self.problem = problem

    @property
    def public(self) -> str:
        if not self.name:
            return f"a secret {self.problem}"
        return f"secret '{self.name}' {self.problem}"


class SecretTooShort(SecretError):
    """A secret's value is shorter than :data:`MIN_SECRET_LENGTH` (refused at start-up)."""


@dataclass(frozen=True)
class Credential:
    """A user name and password; printing it never shows the password."""

    user: str
    password: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Credential(user={self.user!r}, password='********')"

    __str__ = __repr__


VaultClientFactory = Callable[[str, str], Any]


def _hvac_client(url: str, token: str) -> Any:
    import hvac  # optional dependency: imported only when a vault: reference is used

    return hvac.Client(url=url, token=token)


def _strip_newline(text: str) -> str:
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith("\n"):
        return text[:-1]
    return text


class SecretsProvider:
    """Resolves ``name -> Credential`` through the configured references (cached per instance:
    use one instance per run, see :meth:`for_run`)."""

    def __init__(
        self,
        config: Config,
        env: Mapping[str, str] | None = None,
        *,
        redactor: Redactor | None = None,
        vault_client_factory: VaultClientFactory = _hvac_client,
        vault_addr: str | None = None,
        vault_token: str | None = None,
    ) -> None:
        self.config = config
        self.env = os.environ if env is None else env  # for env: references only
        self._vault_addr = vault_addr
        self._vault_token = vault_token
        self.redactor = redactor or default_redactor
        self._vault_factory = vault_client_factory
        self._vault: Any = None
        self._cache: dict[str, Credential] = {}

    def for_run(self) -> SecretsProvider:
        """A provider with an empty cache for one run (or one preflight, one read): the same
        configuration, environment, redactor and Vault client factory, nothing resolved yet."""
        return SecretsProvider(
            self.config,
            self.env,
            redactor=self.redactor,
            vault_client_factory=self._vault_factory,
            vault_addr=self._vault_addr,
            vault_token=self._vault_token,
        )

    def get(self, name: str) -> Credential:
        if name in self._cache:
            return self._cache[name]
        ref = self.config.secrets.get(name)
        if ref is None:
            raise SecretError(
                f"secret '{name}' is not defined in secrets.yaml",
                name=name,
                problem="is not defined in secrets.yaml",
            )
        password = self._resolve(name, ref.password_ref)
        if password == "":
            raise SecretError(
                f"secret '{name}' ({ref.password_ref}) is empty", name=name, problem="is empty"
            )
        if len(password) < MIN_SECRET_LENGTH:
            raise SecretTooShort(
                f"secret '{name}' ({ref.password_ref}) is shorter than {MIN_SECRET_LENGTH} "
                "characters: use a longer password",
                name=name,
                problem=f"is shorter than {MIN_SECRET_LENGTH} characters",
            )
        self.redactor.add(password)
        cred = Credential(user=ref.user, password=password)
        self._cache[name] = cred
        return cred

    def resolve_many(self, names: list[str] | tuple[str, ...]) -> dict[str, Credential]:
        return {name: self.get(name) for name in dict.fromkeys(names)}

    def _resolve(self, name: str, ref: str) -> str:
        if ref.startswith("env:"):
            return self._from_env(name, ref[4:])
        if ref.startswith("file:"):
            return self._from_file(name, ref, Path(ref[5:]))
        if ref.startswith("vault:"):
            return self._from_vault(name, ref[6:])
        raise SecretError(
            f"secret '{name}': unknown reference form '{ref.split(':', 1)[0]}:'",
            name=name,
            problem="has an unknown reference form",
        )

    def _from_env(self, name: str, var: str) -> str:
        if var in self.env:
            return self.env[var]
        file_var = f"{var}_FILE"
        if file_var in self.env:
            return self._from_file(name, f"env:{file_var}", Path(self.env[file_var]))
        raise SecretError(
            f"secret '{name}' (env:{var}): environment variable {var} (or {file_var}) is not set",
            name=name,
            problem="is not set in the worker's environment",
        )

    def _from_file(self, name: str, ref: str, path: Path) -> str:
        try:
            return _strip_newline(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SecretError(
                f"secret '{name}' ({ref}): cannot read {path}: {exc.strerror}",
                name=name,
                problem="cannot be read: its file is missing or unreadable on the worker",
            ) from None

    def _from_vault(self, name: str, spec: str) -> str:
        where = f"secret '{name}' (vault:{spec})"
        path, sep, key = spec.partition("#")
        if not sep or not key or "/" not in path:
            raise SecretError(
                f"{where}: use vault:MOUNT/PATH#KEY (KV v2)",
                name=name,
                problem="has a malformed Vault reference",
            )
        addr, token = self._vault_addr, self._vault_token
        if not addr or not token:
            raise SecretError(
                f"{where}: VAULT_ADDR and VAULT_TOKEN must be set",
                name=name,
                problem="needs VAULT_ADDR and VAULT_TOKEN on the worker",
            )
        mount, _, sub = path.partition("/")
        try:
            if self._vault is None:
                self._vault = self._vault_factory(addr, token)
            reply = self._vault.secrets.kv.v2.read_secret_version(
                path=sub, mount_point=mount, raise_on_deleted_version=True
            )
            data = reply["data"]["data"]
        except Exception as exc:  # hvac raises many types; none may carry the value
            raise SecretError(
                f"{where}: Vault read failed ({type(exc).__name__})",
                name=name,
                problem="could not be read from Vault",
            ) from None
        if key not in data:
            raise SecretError(
                f"{where}: key '{key}' not found at {path}",
                name=name,
                problem="is not in Vault (key not found)",
            )
        return str(data[key])


def short_secret(provider: SecretsProvider) -> str | None:
    """The refusal of the first configured secret shorter than the minimum, for start-up; None
    when every secret that can be read here is long enough. A secret that cannot be read in
    this process (not mounted, no Vault token) is left to preflight, which names it."""
    for name in provider.config.secrets:
        try:
            provider.get(name)
        except SecretTooShort as exc:
            return str(exc)
        except SecretError:
            continue
    return None
