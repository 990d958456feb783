"""The one grammar of the spec strings that name a feature space or a teacher, and its parser.

``NAME[:PATH][:key=value[,key=value]...]...``: a name, an optional positional path, and options as
``key=value`` fields (``:`` or ``,`` between them). A field whose text before ``=`` is not an identifier goes on
the path, or after an option on that option's value, so paths and values may hold ``:``. Examples: ``mel:vocos=/m/vocos``,
``latent:vae=/m/vae,normalize=/m/stats.json``, ``fairseq2-hubert:/m/hubert.pt:layer=23:norm=pre``.
"""

from __future__ import annotations


def _is_option(field: str) -> bool:
    key, eq, _ = field.partition("=")
    return bool(eq) and key.strip().isidentifier()


def parse_spec(spec: str, what: str = "spec") -> tuple[str, str | None, dict[str, str]]:
    """``spec`` -> (name, path or None, {key: value}); ValueError (naming ``what``) for a malformed option."""
    name, *fields = spec.split(":")
    path: list[str] = []
    options: dict[str, str] = {}
    key = None  # the last option read: a later field without its own key continues its value
    for field in fields:
        if not _is_option(field):
            if key is None:
                path.append(field)
            else:
                options[key] = f"{options[key]}:{field.rstrip()}"
            continue
        for part in filter(None, field.split(",")):
            if not _is_option(part):
                raise ValueError(f"{what} {spec!r}: option {part!r} is not key=value")
            key, _, value = part.partition("=")
            key = key.strip()
            options[key] = value.strip()
    return name.strip(), ":".join(path) or None, options
