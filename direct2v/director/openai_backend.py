"""A director behind any OpenAI-compatible chat-completions server.

OpenAI itself, or a local server that speaks the same protocol: Ollama
(``base_url="http://localhost:11434/v1"``), vLLM (``http://localhost:8000/v1``), LM Studio
(``http://localhost:1234/v1``) or a llama.cpp server (``http://localhost:8080/v1``). The key comes
from ``api_key=`` or ``OPENAI_API_KEY``; it is never printed, logged, cached or shown in ``repr``, nor
are credentials in the server's address (``http://user:secret@host/v1?key=secret``): they are removed
(:func:`redact`) from every reply (a server may echo the request's ``Authorization`` header into its
answer) and every error, before anything stores or shows them.
A local server without authentication still needs the argument said out loud: ``api_key="none"``.

``constrained=True`` asks for structured output: an OpenAI ``response_format`` JSON schema of
exactly F frames (shapes-world captions with ``target="shapes"``,
:func:`direct2v.director.constrained.frames_schema`). Not every server takes one; a server that
refuses it (HTTP 400 or 422) is asked again without it, once, with a warning, and from then on
this director does not send it.
"""
from __future__ import annotations

import base64
import hashlib
import math
import os
import time
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from .base import Director, log
from .constrained import response_format
from .parsing import DirectorError


def public_url(url: str | None) -> str:
    """``url`` without credentials, query or fragment (what error messages may show)."""
    if not url:
        return "https://api.openai.com/v1"
    parts = urlsplit(str(url))
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


SHORTEST_SECRET = 6
"""Values shorter than this are not secrets (``api_key="none"`` of a local server), so words are not redacted."""


def url_secrets(url: str | None) -> list[str]:
    """The credentials an address carries: its user name and password, and the values of its query."""
    if not url:
        return []
    parts = urlsplit(str(url))
    found = [parts.username, parts.password] + [v for _, v in parse_qsl(parts.query)]
    if parts.username is not None or parts.password is not None:  # as HTTP basic auth sends them
        found.append(base64.b64encode(f"{unquote(parts.username or '')}:{unquote(parts.password or '')}".encode())
                     .decode())
    return [s for s in found if s]


def redact(text: str, secrets) -> str:
    """``text`` with every secret (and its URL-quoted and unquoted forms) of at least
    :data:`SHORTEST_SECRET` characters replaced by ``***``; longest first, so no piece of one is left."""
    forms = {form for s in secrets if s for form in (s, quote(s, safe=""), unquote(s))}
    for secret in sorted(forms, key=len, reverse=True):
        if len(secret) >= SHORTEST_SECRET:
            text = text.replace(secret, "***")
    return text


FORMAT_REFUSED = "the server refused the response_format"


class OpenAIDirector(Director):
    """Frame director on an OpenAI-compatible server (the paper used GPT-4, GPT-3.5 and Bard).

    ``retries`` more attempts follow a rate limit (429), a server error (5xx), a timeout
    (``timeout`` seconds per attempt) or a lost connection, after ``backoff * 2**attempt`` seconds
    (or the server's ``Retry-After``, capped at 60 s), each announced by a warning on the
    ``direct2v.director`` logger; then a :class:`DirectorError` that names the server (the one
    actually used: ``base_url``, else ``OPENAI_BASE_URL``, else OpenAI's) and the last error.
    Errors are raised without the client's exception attached, and the key and the address's
    credentials are removed from their text and from every reply, so no traceback, log, cache record,
    script or frame shows them. ``max_tokens=None`` leaves the reply length to the server.
    ``constrained``: send a ``response_format`` schema where the server accepts it (module docstring).
    """

    backend = "openai"

    def __init__(self, model: str = "gpt-4o-mini", *, api_key: str | None = None,
                 base_url: str | None = None, temperature: float = 0.7, seed: int | None = 0,
                 timeout: float = 60.0, retries: int = 3, backoff: float = 1.0,
                 max_tokens: int | None = None, target: str | None = None,
                 examples: tuple[str, ...] = (), constrained: bool = False, cache=None):
        super().__init__(model, temperature=temperature, seed=seed, target=target, examples=examples,
                         cache=cache)
        if not isinstance(constrained, bool):
            raise ValueError(f"constrained={constrained!r} is not allowed; give True or False")
        try:
            import openai
        except ImportError as err:  # pragma: no cover - depends on the installation
            raise DirectorError("OpenAIDirector needs the openai package: pip install 'direct2v[llm]'") from err
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        if not key:
            raise DirectorError(
                "OpenAIDirector needs an API key: set the OPENAI_API_KEY environment variable or pass "
                "api_key=...; a local server without authentication (Ollama, vLLM, LM Studio, "
                "llama.cpp) takes api_key='none'")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < math.inf:
            raise ValueError(f"timeout={timeout!r} is not allowed; give a positive number of seconds")
        if isinstance(backoff, bool) or not isinstance(backoff, (int, float)) or not 0 <= backoff < math.inf:
            raise ValueError(f"backoff={backoff!r} is not allowed; give a number of seconds >= 0")
        if not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries={retries!r} is not allowed; give an integer >= 0")
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
            raise ValueError(f"max_tokens={max_tokens!r} is not allowed; give None or a positive integer")
        self.timeout, self.retries, self.backoff, self.max_tokens = timeout, retries, backoff, max_tokens
        self.constrained = constrained   # set to False when the server refuses a response_format
        self._openai = openai
        # the client keeps the key; retries are ours, so that tests can make backoff tiny
        self._client = openai.OpenAI(api_key=key, base_url=base_url, timeout=timeout, max_retries=0)
        self.base_url = public_url(str(self._client.base_url).rstrip("/"))  # OPENAI_BASE_URL included
        self._secrets = [key, *url_secrets(base_url), *url_secrets(str(self._client.base_url))]

    def __repr__(self) -> str:
        return (f"OpenAIDirector(model={self.model!r}, base_url={self.base_url!r}, "
                f"temperature={self.temperature}, seed={self.seed!r}, target={self.target!r}, "
                f"constrained={self.constrained})")

    def _settings(self) -> dict:
        # the server decides the reply too; its address is hashed so that no record holds it
        return {"max_tokens": self.max_tokens, "constrained": self.constrained,
                "server": hashlib.sha256(self.base_url.encode()).hexdigest()[:16]}

    def _delay(self, attempt: int, err) -> float:
        retry_after = None
        response = getattr(err, "response", None)
        if response is not None:
            try:
                retry_after = float(response.headers.get("retry-after"))
            except (TypeError, ValueError):
                retry_after = None
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, 60.0) if self.backoff > 0 else 0.0
        return self.backoff * 2 ** attempt

    def _redact(self, text: str) -> str:
        return redact(text, self._secrets)

    def _source(self) -> str:
        return f"the chat server at {self.base_url} (model {self.model!r})"

    def _complete(self, messages: list[dict], num_frames: int) -> str:
        request = {"model": self.model, "messages": messages, "temperature": self.temperature}
        if self.seed is not None:
            request["seed"] = self.seed
        if self.max_tokens is not None:
            request["max_tokens"] = self.max_tokens
        where = f"{self.base_url} (model {self.model!r})"
        if self.constrained:
            request["response_format"] = response_format(num_frames, self.target)
        response, failure = self._request(request, where)
        if failure is FORMAT_REFUSED:
            log.warning("the chat server at %s refused the response_format schema; asking again without it "
                        "(constrained=False from now on)", where)
            self.constrained = False
            del request["response_format"]
            response, failure = self._request(request, where)
        if failure is not None:  # raised here, outside the handler: no chained client error holds the key
            raise DirectorError(self._redact(failure))
        try:
            content = response.choices[0].message.content
        except (AttributeError, IndexError, TypeError):
            content = None
            failure = f"the chat server at {where} sent no choices: {self._redact(repr(response))[:500]}"
        if failure is None and (not content or not content.strip()):
            failure = f"the chat server at {where} sent an empty reply"
        if failure is not None:
            raise DirectorError(failure)
        return self._redact(content)  # a server may echo the key: no record, script or frame holds it

    def _request(self, request: dict, where: str):
        """``(response, None)``, or ``(None, message)`` once the attempts are spent or the error is final."""
        openai = self._openai
        transient = (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError)
        attempts, attempt = self.retries + 1, 0
        while True:
            try:
                return self._client.chat.completions.create(**request), None
            except transient as err:
                kind = ("timed out after %gs" % self.timeout if isinstance(err, openai.APITimeoutError)
                        else type(err).__name__)
                if attempt == self.retries:
                    return None, (f"the chat server at {where} failed {attempts} time(s); "
                                  f"last error: {kind}: {self._redact(str(err))}")
                delay = self._delay(attempt, err)
                log.warning("the chat server at %s: %s; trying again in %gs (attempt %d of %d)",
                            where, kind, delay, attempt + 2, attempts)
                time.sleep(delay)
                attempt += 1
            except openai.APIStatusError as err:
                if err.status_code in (400, 422) and "response_format" in request:
                    return None, FORMAT_REFUSED
                return None, (f"the chat server at {where} refused the request "
                              f"(HTTP {err.status_code}, {type(err).__name__}): {self._redact(str(err))}")
            except openai.OpenAIError as err:
                return None, f"the chat server at {where} failed: {type(err).__name__}: {self._redact(str(err))}"
            except ValueError as err:  # a body that is not JSON (json.JSONDecodeError)
                return None, (f"the chat server at {where} sent a reply that is not valid JSON "
                              f"({type(err).__name__}: {self._redact(str(err))})")
