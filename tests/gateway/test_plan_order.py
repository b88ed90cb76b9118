"""Which fields of an object compiled execution starts first: the ones with the longest chain
of back-end calls below them (`Fetch.calls`, then their children's), so their batches go first
and, at the same latency, their answers come back first. At concurrency 1 with 20 ms back-ends
the screen-pop's contacts (then their articles) left third of seven, behind accounts and cards,
and the articles went ~1 ms after the accounts' transactions (issue #18)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from gateway.execution.compile import FETCH, compile_plan
from gateway.execution.run import execute_plan
from gateway.masking.policy import Policy
from gateway.masking.treatments import Masker
from resolvers import Loaders
from schema.bindings import Fetch, RootFetch
from tests.gateway.test_compiled_cancellation import NO_VARIABLES, SCHEMA, _rebind
from tests.gateway.test_plans import _operation, _variables

SCREEN_POP_CUSTOMER = """query ($phone: String!) { findCustomers(phone: $phone) {
  id accounts { id transactions(first: 5) { id } } cards { pan } interactions(first: 10) { id }
  cases(status: OPEN) { number } journey { stage } suggestedArticles(first: 3) { title }
  risk { fraudHold }
} }"""


def _customer_branches(text: str, raw: dict[str, Any] | None = None) -> list[tuple[str, int]]:
    operation, fragments = _operation(text)
    variables = _variables(operation, raw or {})
    plan = compile_plan(
        SCHEMA, fragments, operation, variables, frozenset({"supervisor"}), Policy.load(),
        Masker(b"test"),
    )  # fmt: skip
    customer = plan.root[0].child
    assert customer is not None
    return [(b.key, b.chain) for b in customer.branches]


def test_the_screen_pop_starts_the_fields_that_lead_to_more_calls_first() -> None:
    order = _customer_branches(SCREEN_POP_CUSTOMER, {"phone": "+12025550123"})
    # accounts -> transactions and suggestedArticles (contacts -> articles): two calls in a
    # row; the others one; document order among equals
    assert order == [
        ("accounts", 2),
        ("suggestedArticles", 2),
        ("cards", 1),
        ("interactions", 1),
        ("cases", 1),
        ("journey", 1),
        ("risk", 1),
    ]


def test_a_field_read_from_the_record_keeps_the_fetches_on_either_side_of_it() -> None:
    """A field read from the record that fails nulls its object and the fields after it never
    start (as in standard execution): what starts before it stays what the document put there."""
    accounts = "accounts { transactions(first: 1) { id } }"
    before = f'{{ customer(id: "1") {{ cards {{ pan }} address {{ city }} {accounts} }} }}'
    assert _customer_branches(before) == [("cards", 1), ("address", 0), ("accounts", 2)]
    after = f'{{ customer(id: "1") {{ cards {{ pan }} {accounts} address {{ city }} }} }}'
    assert _customer_branches(after) == [("accounts", 2), ("cards", 1), ("address", 0)]


async def test_their_batches_go_first_and_the_answer_keeps_document_order() -> None:
    sent: list[str] = []

    class Core:
        async def cards(self, parties: list[str]) -> list[Any]:
            sent.append("cards")
            return [SimpleNamespace(id=f"CARD-{p}", party_id=p) for p in parties]

        async def accounts(self, parties: list[str]) -> list[Any]:
            sent.append("accounts")
            return [SimpleNamespace(id=f"ACC-{p}", party_id=p) for p in parties]

        async def transactions(self, accounts: list[str], first: int) -> list[Any]:
            sent.append("transactions")
            return [SimpleNamespace(id=f"TX-{a}", account_id=a, posted_at=0) for a in accounts]

    async def customer(context: Any, args: Any) -> Any:
        return SimpleNamespace(id="003A", core_party_id="PTY-A", ccaas_profile_id=None)

    operation, fragments = _operation(
        '{ customer(id: "1") { cards { id } accounts { id transactions(first: 2) { id } } } }'
    )
    plan = compile_plan(
        SCHEMA, fragments, operation, NO_VARIABLES, frozenset({"agent"}), Policy.load(),
        Masker(b"test"),
    )  # fmt: skip
    plan = _rebind(
        plan,
        {"customer": RootFetch(customer)},
        {
            "cards": Fetch(lambda loaders, parents, args: loaders.cards.settle_many(["PTY-A"])),
            "accounts": Fetch(
                lambda loaders, parents, args: loaders.accounts.settle_many(["PTY-A"])
            ),
            "transactions": Fetch(
                lambda loaders, parents, args: loaders.transactions.settle_many(
                    [(a.id, 2) for a in parents]
                )
            ),
        },
    )
    assert [b.kind for b in plan.root[0].child.branches] == [FETCH, FETCH]  # type: ignore[union-attr]
    loaders = Loaders(cast(Any, SimpleNamespace(core=Core())))
    allow = SimpleNamespace(decide=lambda *args: "allow")
    data, errors, _, _ = await execute_plan(
        plan, SimpleNamespace(loaders=loaders, access=allow), NO_VARIABLES
    )
    assert not errors
    assert sent == ["accounts", "cards", "transactions"]
    assert data is not None
    assert list(data["customer"]) == ["cards", "accounts"]  # the document's order
