"""OneRoster `imsx_` error bodies, read leniently: providers disagree on key case and nesting."""

import httpx


def describe_imsx_error(response: httpx.Response) -> str:
    """`description (codeMinor values)` from an imsx body, or the start of whatever was sent."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if not isinstance(body, dict):
        return str(body)[:200]
    lowered = {key.lower(): value for key, value in body.items()}
    description = lowered.get("imsx_description") or lowered.get("message") or ""
    minor = lowered.get("imsx_codeminor") or {}
    fields = minor.get("imsx_codeMinorField") or minor.get("imsx_codeminorfield") or [] if isinstance(minor, dict) else []
    if isinstance(fields, dict):
        fields = [fields]
    codes = [str(f.get("imsx_codeMinorFieldValue", "")) for f in fields if isinstance(f, dict)]
    detail = f" ({', '.join(code for code in codes if code)})" if any(codes) else ""
    return (str(description)[:200] or response.reason_phrase) + detail
