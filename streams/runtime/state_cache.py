"""Customer states: read from and written to the table store, the most recent kept decoded.

A customer seen again soon skips the store read and the decoding. Each cached state equals
what the store holds (or is it advanced, which a later load would redo); one is dropped when
its customer's processing fails or its partition leaves.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterable, Protocol

from handlers.state import CustomerState


class StateStore(Protocol):
    def get(self, key: bytes, origin: Any = None) -> bytes | None: ...
    def put(self, key: bytes, value: bytes, origin: Any) -> None: ...


class StateCache:
    def __init__(self, store: StateStore, capacity: int) -> None:
        self.store = store
        self.capacity = capacity
        self._states: OrderedDict[bytes, CustomerState] = OrderedDict()

    def __contains__(self, customer_key: bytes) -> bool:
        return customer_key in self._states

    def load(self, customer_key: bytes, origin: Any = None) -> CustomerState:
        state = self._states.get(customer_key)
        if state is not None:
            self._states.move_to_end(customer_key)
            return state
        raw = self.store.get(customer_key, origin)
        return CustomerState.from_bytes(raw) if raw else CustomerState.new(customer_key.decode())

    def save(self, customer_key: bytes, state: CustomerState, origin: Any) -> None:
        self.store.put(customer_key, state.to_bytes(), origin)
        if self.capacity:
            self._states[customer_key] = state
            self._states.move_to_end(customer_key)
            if len(self._states) > self.capacity:
                self._states.popitem(last=False)

    def drop(self, customer_keys: Iterable[bytes]) -> None:
        for customer_key in customer_keys:
            self._states.pop(customer_key, None)
