"""Keep secrets out of published files.

A secret is the value of an environment variable whose name says it holds one (``HF_TOKEN``,
``WANDB_API_KEY``, ``AWS_SECRET_ACCESS_KEY``...), the Hugging Face token in use, anything shaped like a
Hugging Face token, or the value of a secret-named field in a config (``env_kwargs: {api_key: ...}``).
Text and JSON are scrubbed; every staged file, binary ones included, is then checked byte by byte.

>>> secrets = Secrets.from_environment({"MY_API_KEY": "s3cr3t-value", "TOKENIZERS_PARALLELISM": "false"})
>>> secrets.scrub_text("key=s3cr3t-value")
'key=<redacted>'
>>> secrets.scrub_data({"env_kwargs": {"api_key": 1234, "mode": "fast"}})
{'env_kwargs': {'api_key': '<redacted>', 'mode': 'fast'}}
>>> secrets.found_in(b"...s3cr3t-value...")
'MY_API_KEY'
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

REDACTED = "<redacted>"
_SECRET_NAME = re.compile(r"token|secret|passw|apikey|accesskey|privatekey|credential")
# Shorter values (flags such as TOKENIZERS_PARALLELISM=false) are ordinary words, not secrets.
MIN_SECRET_LENGTH = 8
_HF_TOKEN = re.compile(r"hf_[A-Za-z0-9]{30,}")
_HF_TOKEN_BYTES = re.compile(_HF_TOKEN.pattern.encode())


def is_secret_name(name: str) -> bool:
    """Whether a variable or field name says it holds a secret (``HF_TOKEN``, ``apiKey``, ``db-password``)."""
    return bool(_SECRET_NAME.search(re.sub(r"[-_ ]", "", name.lower())))


@dataclass(frozen=True)
class Secrets:
    """Secret values, each with the name of where it came from (for messages that never show the value)."""

    sources: Mapping[str, str]

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None,
                         extra: Mapping[str, str | None] | None = None) -> Secrets:
        """The secret-named variables of ``environ`` (default ``os.environ``) plus ``extra`` values by source name
        (e.g. the token of the saved login)."""
        environ = os.environ if environ is None else environ
        sources = {value: name for name, value in environ.items() if is_secret_name(name)}
        sources.update({value: name for name, value in (extra or {}).items() if value})
        return cls({value: name for value, name in sources.items() if len(value.strip()) >= MIN_SECRET_LENGTH})

    def scrub_text(self, text: str) -> str:
        for value in sorted(self.sources, key=len, reverse=True):  # longest first: one may contain another
            text = text.replace(value, REDACTED)
        return _HF_TOKEN.sub(REDACTED, text)

    def scrub_data(self, data: Any) -> Any:
        """A copy of JSON-like ``data`` with secret-named fields and secret values redacted."""
        if isinstance(data, dict):
            return {
                key: REDACTED if _is_scalar(value) and is_secret_name(str(key)) else self.scrub_data(value)
                for key, value in data.items()
            }
        if isinstance(data, (list, tuple)):
            return type(data)(self.scrub_data(item) for item in data)
        if isinstance(data, str):
            return self.scrub_text(data)
        return data

    def found_in(self, blob: bytes) -> str | None:
        """The source name of a secret ``blob`` contains, else None."""
        for value, name in self.sources.items():
            if value.encode() in blob:
                return name
        return "a Hugging Face token" if _HF_TOKEN_BYTES.search(blob) else None


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool) and value != ""
