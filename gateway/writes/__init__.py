"""Write-back (issue #15): dispositions, case notes and cases sent to the CRM exactly once.
The GraphQL side (who may write, what a write may hold, the completion feed) is `api.py`,
`rules.py` and `settled.py`; the service with its outbox is behind the `Writes` Protocol
(`contract.py`, WRITES-CONTRACT.md section 3)."""
