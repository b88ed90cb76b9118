"""`Slots`, the bulkhead's and the wire pool's semaphore: a free slot is taken at once, waiters
are served first come, and a cancelled waiter never keeps a slot (asyncio.Semaphore's rules)."""

from __future__ import annotations

import asyncio
import random

from sources.transport.slots import Slots


async def test_a_free_slot_is_taken_at_once_and_given_back() -> None:
    slots = Slots(2)
    assert slots.take_now() and slots.take_now()
    assert not slots.take_now() and slots.free == 0
    slots.give()
    assert slots.free == 1
    await slots.take()  # free: answers without waiting
    assert slots.free == 0


async def test_waiters_are_served_first_come_and_a_newcomer_never_jumps_the_line() -> None:
    slots = Slots(1)
    assert slots.take_now()
    order: list[int] = []

    async def waiter(i: int) -> None:
        await slots.take()
        order.append(i)
        slots.give()

    tasks = [asyncio.create_task(waiter(i)) for i in range(4)]
    await asyncio.sleep(0)
    slots.give()  # handed to waiter 0, which has not run yet
    assert not slots.take_now()  # the slot is waiter 0's, not free for a newcomer
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3]
    assert slots.free == 1


async def test_a_waiter_cancelled_while_waiting_takes_no_slot() -> None:
    slots = Slots(1)
    assert slots.take_now()
    waiting = asyncio.create_task(slots.take())
    await asyncio.sleep(0)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    slots.give()
    assert slots.free == 1 and slots.take_now()


async def test_a_slot_handed_to_a_waiter_cancelled_before_it_ran_is_passed_on() -> None:
    slots = Slots(1)
    assert slots.take_now()
    first = asyncio.create_task(slots.take())
    second = asyncio.create_task(slots.take())
    await asyncio.sleep(0)
    slots.give()  # handed to `first`...
    first.cancel()  # ...which goes away before it ran: `second` gets the slot
    await asyncio.gather(first, return_exceptions=True)
    assert first.cancelled()
    async with asyncio.timeout(5):  # a lost slot would leave `second` waiting forever
        await second
    assert slots.free == 0
    slots.give()
    assert slots.free == 1


async def test_random_takers_never_exceed_the_count_and_leave_every_slot_free() -> None:
    rng = random.Random(7)
    slots = Slots(3)
    held = peak = 0

    async def user() -> None:
        nonlocal held, peak
        if not slots.take_now():
            await slots.take()
        held += 1
        peak = max(peak, held)
        try:
            await asyncio.sleep(0)
        finally:
            held -= 1
            slots.give()

    tasks = [asyncio.create_task(user()) for _ in range(60)]
    for _ in range(5):
        await asyncio.sleep(0)
        for task in rng.sample(tasks, 6):
            task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert peak == 3 and held == 0
    assert slots.free == 3
