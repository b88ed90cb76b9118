"""Who is calling: the customers behind a CCaaS contact.

The contact's CCaaS profile names its customer when the CCaaS system knows the caller (the CRM
customer that links that profile). A caller it does not know (no profile, or a profile no CRM
customer links) is looked up by the phone they call from (the contact's ANI), like every vendor's
screen pop does first (DOMAIN.md "Lookup"): 0..n customers, several for a household sharing a
phone. The phone lookup is `find_customers`, the one `Query.findCustomers(phone:)` uses, so one
phone rule (normalisation included) holds everywhere; `Query.routingContext(interactionId:)`
asks this very function, so a contact flow and the agent's screen pop see the same callers.

Nobody found by phone is verified by the contact: verification covers only the customer whose
CCaaS profile the contact has (gateway/masking/verification.py `covers`), and a phone match is
never that customer (the agent links the profile only after ID&V)."""

from __future__ import annotations

from sources.records import Contact, Customer

from .errors import BadUserInput
from .identity import find_customers
from .loaders import Loaders

__all__ = ["callers", "profile_customer"]


async def profile_customer(loaders: Loaders, contact: Contact) -> Customer | None:
    """The CRM customer that links the contact's CCaaS profile (None: no profile, or none)."""
    if contact.profile_id is None:
        return None
    return await loaders.customer_by_ccaas_profile.load(contact.profile_id)


async def callers(loaders: Loaders, contact: Contact) -> tuple[Customer, ...]:
    """The contact's customers: its profile's, else the phone lookup of its ANI (none when the
    number is withheld or will not parse as a phone). A source failure propagates.

    The profile's lookup is sent at once: a screen pop and a routing context (the callers of
    this) have nothing else to batch it with, and a contact flow waits on it."""
    customer = None
    if contact.profile_id is not None:
        pending = loaders.customer_by_ccaas_profile.load(contact.profile_id)
        loaders.customer_by_ccaas_profile.dispatch()
        customer = await pending
    if customer is not None:
        return (customer,)
    if contact.ani is None:
        return ()
    try:
        return tuple(await find_customers(loaders, phone=contact.ani))
    except BadUserInput:  # "anonymous", "restricted", a SIP URI: nobody's number
        return ()
