"""One reducer module per metric family.

Each module has `fold(state, event, config)` (mutates the state's buckets),
`read(state, as_of_ms, config) -> dict` (plain metrics for the snapshot) and
`components(state, day, config) -> {name: Component}` (its health-score inputs,
evaluated at a UTC day index so daily ticks are order independent),
`change_sources(state, config) -> [(days, offsets), ...]` (the inputs can jump on
day + offset for each such day: data entering or leaving a window) and CONSTANT (True when the components do
not move at all between change days, so a tick may reuse them).
"""
from handlers.metrics import contacts, lifecycle, mentions, nps, purchases, referrals, satisfaction, tickets

FAMILIES = (nps, satisfaction, contacts, mentions, tickets, purchases, referrals, lifecycle)
