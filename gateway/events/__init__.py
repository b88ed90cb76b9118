"""Live context, part one (issue #14): signed vendor events in, canonical CloudEvents out.

signatures.py (Standard Webhooks verification) -> ingest.py (POST /webhooks/{system}) ->
mapping.py (vendor payload -> CloudEvent) -> broker.py (dedupe, cursors, bounded replay,
subscribers); settings.py is `[webhooks.<system>]`, dedupe.py the bounded expiring id set.
"""
