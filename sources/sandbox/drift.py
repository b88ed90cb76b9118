"""The core's own copy of each customer's identity (`GET /core/parties`), and seeded drift.

A core banking system keeps the KYC record it opened the accounts with: legal name, date of
birth, phones, email and residential address (Open Banking's `Party`). It is written in the
core's own formats (phones as "+1-2025550143", addresses as captured at onboarding), so most
records differ from the CRM's in format only. A few fixed customers (by population index, the
same for every seed: `DRIFT`) carry deliberate drift, documented in docs/sandbox.md: some differ
in format only and must not be flagged, others really disagree and must be.

Derived from the CRM record's JSON plus the drift: no random draw of its own, so generating a
party never shifts any other part of the population.
"""

from __future__ import annotations

from typing import Any

import orjson

from .records import Clock, dumps

__all__ = ["DRIFT", "party"]

DRIFT: dict[int, str] = {
    0: "phone_format",  # national format "(202) 555-0143": the same number, not flagged
    1: "phone_number",  # another number: flagged (PHONE)
    2: "address_format",  # upper case, doubled spaces, "St." vs "St": not flagged
    3: "postal_code",  # another ZIP code: flagged (ADDRESS)
    4: "name_diacritics",  # "José" where the CRM says "Jose": flagged (NAME, LOW)
    5: "birthdate",  # another day: flagged (DATE_OF_BIRTH)
    6: "email_case",  # upper case: not flagged
    7: "email",  # another address: flagged (EMAIL)
}
"""Population index -> the drift its core party record carries."""

_ACCENTED = str.maketrans("aeiouAEIOU", "áéíóúÁÉÍÓÚ")


def _ob_phone(e164: str) -> str:
    """Open Banking's phone format: "+<country code>-<number>"."""
    return f"{e164[:2]}-{e164[2:]}"


def _national(e164: str) -> str:
    digits = e164[2:]
    return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"


def _accent_last_vowel(name: str) -> str:
    for position in range(len(name) - 1, -1, -1):
        accented = name[position].translate(_ACCENTED)
        if accented != name[position]:
            return name[:position] + accented + name[position + 1 :]
    return name + "é"


def _last_changed(index: int, clock: Clock) -> str:
    """When the core last changed the record: deterministic, a few days to a year ago."""
    return clock.iso(((index * 7919) % 360 + 3) * 86_400 + (index * 104_729) % 86_400)


def party(index: int, crm_body: bytes, clock: Clock) -> bytes:
    """The core party record of the customer whose CRM record is `crm_body`."""
    crm: dict[str, Any] = orjson.loads(crm_body)
    drift = DRIFT.get(index)
    phones = {p["Type"]: p["Number"] for p in crm["Phones"]}
    mobile, home = phones.get("Mobile"), phones.get("Home")
    first, last = crm["FirstName"], crm["LastName"]
    birthdate: str = crm["Birthdate"]
    email: str = crm["Emails"][0]
    address = dict(crm["MailingAddress"])
    main = "Mobile" if mobile is not None else "Home"
    number = phones[main]
    if drift == "phone_format":
        number = _national(number)
    elif drift == "phone_number":
        number = number[:-4] + f"{(int(number[-4:]) + 1111) % 10_000:04d}"
    else:
        number = _ob_phone(number)
    if main == "Mobile":
        mobile = number
        home = None if home is None else _ob_phone(home)
    else:
        home = number
    if drift == "address_format":
        address["street"] = "  " + address["street"].upper().replace(" ", "  ") + "."
        address["city"] = address["city"].upper() + " "
        address["postalCode"] = " " + address["postalCode"]
    elif drift == "postal_code":
        address["postalCode"] = f"{(int(address['postalCode']) + 11) % 100_000:05d}"
    if drift == "name_diacritics":
        first = _accent_last_vowel(first)
    if drift == "birthdate":
        year, month, day = birthdate.split("-")
        birthdate = f"{year}-{month}-{int(day) % 28 + 1:02d}"
    if drift == "email_case":
        email = email.upper()
    elif drift == "email":
        email = "x" + email
    return dumps(
        {
            "PartyId": crm["CoreParty__c"],
            "PartyType": "Sole",
            "Name": f"{first} {last}",
            "BirthDate": birthdate,
            "EmailAddress": email,
            "Phone": home,
            "Mobile": mobile,
            "Address": [
                {
                    "AddressType": "Residential",
                    "AddressLine": [address["street"]],
                    "TownName": address["city"],
                    "CountrySubDivision": address["state"],
                    "PostCode": address["postalCode"],
                    "Country": address["country"],
                }
            ],
            "LastUpdateDateTime": _last_changed(index, clock),
        }
    )
